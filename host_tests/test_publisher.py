# test_publisher.py: topics, payloads, outbox and discovery, on recorded frames.
# MIT license; Copyright (c) 2026 hanmq
#
# The link here records what would go to the broker; test_dongle.py sends the same
# through a real broker.

import json

import pytest
from conftest import load_corpus
from han.decoder import Decoder

from ha import Discovery, label
from outbox import Outbox
from publisher import Publisher, json_fields

FRAMES = {r["id"]: bytes.fromhex(r["hex"]) for r in load_corpus() if r["format"] == "hdlc"}
AIDON_L3 = FRAMES["aidon-no-l3-ams-gh1119-1"]
AIDON_L3_NEXT = FRAMES["aidon-no-l3-ams-gh1119-2"]
KAMSTRUP_L2 = FRAMES["kamstrup-no-l2-ams-em001-2"]
AIDON_L2 = FRAMES["aidon-no-l2-hassams-aidon_short"]


class RecordingLink:
    def __init__(self):
        self.up = True
        self.sent = []
        self.fail_after = None

    def connected(self):
        return self.up

    def publish(self, topic, payload, retain=False):
        if not self.up:
            return False
        if self.fail_after is not None:
            if self.fail_after == 0:
                self.up = False
                return False
            self.fail_after -= 1
        self.sent.append((topic.decode(), payload.decode(), retain))
        return True


DISC = ("homeassistant", "hanmq_a1b2c3", "hanmq/hanmq_a1b2c3", "0.1.0", "esp32_devkit")


def make(ha=True, node="hanmq_a1b2c3", lazy=False, reactive_class=False, capacity=True, **kw):
    link = RecordingLink()
    args = ("homeassistant", node, "hanmq/" + node, "0.1.0", "esp32_devkit", reactive_class,
            capacity)
    disc = (args if lazy else Discovery(*args)) if ha else None
    pub = Publisher(link, "hanmq/" + node, disc, **kw)
    dec = Decoder(lambda rd: pub.on_reading(rd, dec.frame))
    return link, pub, dec


def readings(link):
    return [json.loads(p) for t, p, r in link.sent if t.endswith("/reading")]


def test_json_and_one_topic_per_field():
    link, pub, dec = make(ha=False)
    dec.feed(AIDON_L3)
    pub.service()
    (reading,) = readings(link)
    assert reading["active_power_import_total"] == 109552.25
    topics = {t: (p, r) for t, p, r in link.sent}
    base = "hanmq/hanmq_a1b2c3/"
    # every plain value retained: Home Assistant gets it whenever it subscribes
    assert topics[base + "active_power_import"] == ("4027", True)
    assert topics[base + "active_power_import_total"] == ("109552.25", True)
    assert topics[base + "voltage_l1"] == ("233.0", True)
    assert topics[base + "meter_id"] == ("7359992890497997", True)
    assert topics[base + "meter_datetime"] == ("2025-12-14T16:00:00", True)
    assert topics[base + "reading"][1] is False  # a stream, not a state
    # every field of the JSON has its own topic, with the same text
    for field, value in reading.items():
        text = topics[base + field][0]
        assert (text == value) if isinstance(value, str) else (json.loads(text) == value)


def test_a_full_heap_loses_the_reading_not_the_dongle(monkeypatch):
    """No room for a reading's JSON even after shedding: that reading is dropped and
    counted, nothing raises, and the next one goes out."""
    from han.reading import Reading

    link, pub, dec = make(ha=False)
    dec.feed(AIDON_L3)

    def full(self):
        raise MemoryError("memory allocation failed, allocating 391 bytes")

    monkeypatch.setattr(Reading, "to_json", full)
    dec.feed(AIDON_L3_NEXT)
    assert pub.outbox.dropped == 1 and len(readings(link)) == 1
    monkeypatch.undo()
    dec.feed(AIDON_L3_NEXT)
    pub.service()
    assert len(readings(link)) == 2 and pub.outbox.dropped == 1


def test_json_fields_reads_our_json_without_floats():
    js = b'{"meter_id": "a\\"b\\\\c", "active_power_import_total": 10049.926, "x": 1}'
    assert list(json_fields(js)) == [
        (b"meter_id", b'a"b\\c'),
        (b"active_power_import_total", b"10049.926"),
        (b"x", b"1"),
    ]


def test_energy_never_published_lower():
    link, pub, dec = make(ha=False)
    dec.feed(AIDON_L3_NEXT)  # 17:00
    dec.feed(AIDON_L3)  # 16:00 again: lower registers
    pub.service()
    first, second = readings(link)
    assert "active_power_import_total" in first
    assert "active_power_import_total" not in second
    assert pub.energy_rejected >= 1


def test_outage_keeps_hourly_readings_in_order_and_latest_instant_value():
    link, pub, dec = make(ha=False)
    link.up = False
    dec.feed(AIDON_L3)
    dec.feed(AIDON_L2)
    dec.feed(AIDON_L3_NEXT)
    dec.feed(AIDON_L2)
    dec.feed(KAMSTRUP_L2)  # replaces the waiting list 2
    assert pub.service() == 0
    link.up = True
    pub.service()
    got = readings(link)
    assert [r["meter_datetime"] for r in got[:2]] == ["2025-12-14T16:00:00", "2025-12-14T17:00:00"]
    assert got[2]["meter_manufacturer"] == "Kamstrup" and len(got) == 3


def test_outage_mid_reading_resumes_without_repeating():
    link, pub, dec = make(ha=False)
    link.fail_after = 5  # the link dies after five messages of the reading
    dec.feed(AIDON_L3)
    pub.service()
    assert not link.up
    link.up = True
    pub.service()
    topics = [t for t, p, r in link.sent]
    assert len(topics) == len(set(topics))  # nothing twice
    assert topics.count("hanmq/hanmq_a1b2c3/reading") == 1


def test_outbox_is_bounded_and_counts_drops():
    box = Outbox(budget=1000)
    for i in range(10):
        box.put(b"x" * 300 + bytes([i]), keep=True)
    assert box.dropped == 7 and len(box) == 3
    assert box.peek()[-1] == 7


def test_raw_frame_topic():
    link, pub, dec = make(ha=False, raw=True)
    dec.feed(KAMSTRUP_L2)
    raw = [p for t, p, r in link.sent if t.endswith("/raw")]
    assert raw == [KAMSTRUP_L2.hex()]


# -- Home Assistant discovery ----------------------------------------------------------

# One meter's own lists, as it sends them (list 1 names nothing, list 2 the meter, list 3
# adds the clock and the registers).
KAIFA = [FRAMES["kaifa-no-l1-roarfred-kaifa-1"], FRAMES["kaifa-no-l2-roarfred-kaifa-1"],
         FRAMES["kaifa-no-l3-roarfred-kaifa-1"]]
AIDON = [FRAMES["aidon-no-l1-hassams-aidon_mini"], AIDON_L2,
         FRAMES["aidon-no-l3-hassams-aidon_hourly"]]
KAMSTRUP = [KAMSTRUP_L2, FRAMES["kamstrup-no-l3-ams-em001-1"]]
ALLOWED = {"power": {"W", "kW"}, "reactive_power": {"var"}, "current": {"A"}, "voltage": {"V"},
           "energy": {"kWh"}, "reactive_energy": {"kvarh"}, "signal_strength": {"dBm"},
           "data_size": {"B"}, "duration": {"s"}, "power_factor": {None}}
NODE = "hanmq_a1b2c3"
METER_DEV = NODE + "_meter"


def sent_configs(link):
    """[(topic, config or None for an empty payload, retained)] in the order sent."""
    return [(t, json.loads(p) if p else None, r) for t, p, r in link.sent
            if t.startswith("homeassistant/")]


def by_key(link, node=NODE):
    """The latest config of each sensor, by its key (unique id without the node)."""
    out = {}
    for t, c, r in sent_configs(link):
        if c is not None:
            out[c["uniq_id"][len(node) + 1 :]] = c
    return out


def play(frames, **kw):
    link, pub, dec = make(**kw)
    pub.on_connect()
    for f in frames:
        dec.feed(f)
        pub.service()
    return link, pub, dec


def test_discovery_messages():
    link, pub, dec = play(AIDON)
    sent = sent_configs(link)
    assert sent and all(r for t, c, r in sent)  # retained
    assert ("hanmq/hanmq_a1b2c3/status", "online", True) in link.sent
    ids = [c["uniq_id"] for t, c, r in sent]
    assert len(ids) == len(set(ids))
    for t, c, r in sent:
        assert t == "homeassistant/sensor/%s/config" % c["uniq_id"]
        assert c["avty_t"] == "hanmq/hanmq_a1b2c3/status" and c["o"]["name"] == "hanmq"
        if "dev_cla" in c and c["dev_cla"] in ALLOWED:
            assert c.get("unit_of_meas") in ALLOWED[c["dev_cla"]], c
    cfg = by_key(link)
    e = cfg["active_power_import_total"]
    assert (e["dev_cla"], e["unit_of_meas"], e["stat_cla"]) == (
        "energy", "kWh", "total_increasing")
    assert e["stat_t"] == "hanmq/hanmq_a1b2c3/active_power_import_total"
    assert cfg["reactive_power_export_total"]["unit_of_meas"] == "kvarh"
    assert "meter_id" not in cfg  # texts go into the device block
    # live registers: what the README says to pick for the energy dashboard
    for way in ("import", "export"):
        live = cfg["active_power_%s_total_live" % way]
        assert live["stat_t"] == "hanmq/hanmq_a1b2c3/active_power_%s_total_live" % way
        assert (live["dev_cla"], live["unit_of_meas"], live["stat_cla"], live["sug_dsp_prc"]) == (
            "energy", "kWh", "total_increasing", 3)
        assert live["name"] == "Energy " + way
        assert cfg["active_power_%s_total" % way]["name"] == "Energy %s register" % way


def test_the_meter_and_the_dongle_are_two_devices():
    link, pub, dec = play(AIDON)
    cfg = by_key(link)
    meter = {"ids": [METER_DEV], "name": "Aidon 6534 a1b2c3", "mf": "Aidon", "mdl": "6534",
             "sn": "7359992895913195", "via_device": NODE}
    dongle = {"ids": [NODE], "name": "hanmq a1b2c3", "mf": "hanmq", "mdl": "esp32_devkit",
              "sw": "0.1.0"}
    from ha import DIAGNOSTICS

    DIAGNOSTICS = DIAGNOSTICS.split()
    for key, c in cfg.items():
        if key in DIAGNOSTICS:
            assert c["dev"] == dongle and c["ent_cat"] == "diagnostic", key
        else:
            assert c["dev"] == meter, key
    assert set(DIAGNOSTICS) <= set(cfg)
    assert cfg["meter_datetime"]["ent_cat"] == "diagnostic"  # the meter's, on its device
    # the dongle's device is announced before any sensor names it as via_device
    order = [c["dev"]["ids"][0] for t, c, r in sent_configs(link)]
    assert order.index(NODE) < order.index(METER_DEV)


def test_two_dongles_never_give_two_devices_one_name():
    names = set()
    for node in ("hanmq_a1b2c3", "hanmq_d4e5f6"):
        link, pub, dec = play(AIDON, node=node)
        for c in by_key(link, node).values():
            names.add((c["dev"]["name"], c["name"]))  # what HA makes entity ids of
    assert len(names) == 2 * len({n for d, n in names})


def test_a_replaced_meter_keeps_its_device_and_sensors():
    """The grid company replaces the meter: the same device (the dongle's meter) now
    names the new one; the sensors stay the same entities, nothing is left behind."""
    link, pub, dec = play(AIDON)
    before = by_key(link)
    link.sent.clear()
    for f in KAIFA[1:]:
        dec.feed(f)
        pub.service()
    after = by_key(link)
    assert after["voltage_l1"]["dev"] == {
        "ids": [METER_DEV], "name": "Kaifa MA304H3E a1b2c3", "mf": "Kaifa", "mdl": "MA304H3E",
        "sn": "6970631401753985", "via_device": NODE}
    meter_keys = {k for k, c in before.items() if c["dev"]["ids"] == [METER_DEV]}
    assert meter_keys <= set(after)  # every sensor of the meter moved on with it
    assert {c["uniq_id"] for c in after.values()} >= {before[k]["uniq_id"] for k in meter_keys}
    # and the new meter's precision: Kaifa sends milliamperes (Aidon 0.1 A)
    assert before["current_l1"]["sug_dsp_prc"] == 1 and after["current_l1"]["sug_dsp_prc"] == 3


@pytest.mark.parametrize("frames", [AIDON, KAIFA, KAMSTRUP], ids=["Aidon", "Kaifa", "Kamstrup"])
def test_one_announce_per_config(frames):
    link, pub, dec = play(frames)
    for f in frames:  # the same lists again: nothing new to say
        dec.feed(f)
        pub.service()
    topics = [t for t, c, r in sent_configs(link)]
    assert len(topics) == len(set(topics)), sorted(t for t in topics if topics.count(t) > 1)
    # ... and what was said is complete: every number the meter sent has its sensor
    cfg = by_key(link)
    assert "voltage_l1" in cfg and "active_power_import_total" in cfg and "rssi" in cfg


def test_meter_sensors_wait_until_the_meter_has_named_itself():
    """A list 1 names no model: the meter's sensors are announced with the list 2 that
    names it, so the device never changes its name under entities already made."""
    link, pub, dec = make()
    pub.on_connect()
    dec.feed(KAIFA[0])
    pub.service()
    assert all(c["dev"]["ids"] == [NODE] for t, c, r in sent_configs(link))  # diagnostics only
    dec.feed(KAIFA[1])
    pub.service()
    cfg = by_key(link)
    assert cfg["active_power_import"]["dev"]["name"] == "Kaifa MA304H3E a1b2c3"
    assert "active_power_import_total_live" not in cfg  # no register yet
    dec.feed(KAIFA[2])
    pub.service()
    assert "active_power_import_total_live" in by_key(link)


@pytest.mark.parametrize(
    "frames,field,decimals",
    [
        (KAMSTRUP, "voltage_l1", 0),  # whole volts
        (KAMSTRUP, "current_l1", 2),
        (KAIFA, "current_l1", 3),  # milliamperes
        (KAIFA, "voltage_l1", 1),
        (AIDON, "current_l1", 1),
        (KAIFA, "active_power_import_total", 3),  # Wh registers, in kWh
        (AIDON, "active_power_import_total", 2),  # 10 Wh registers
        (AIDON, "active_power_import", 0),
    ],
)
def test_display_precision_is_what_the_meter_sends(frames, field, decimals):
    link, pub, dec = play(frames)
    assert by_key(link)[field]["sug_dsp_prc"] == decimals
    # the same number of decimals as the values published
    value = [p for t, p, r in link.sent if t == "hanmq/hanmq_a1b2c3/" + field][-1]
    assert len(value.partition(".")[2]) == decimals


@pytest.mark.parametrize("frames", [AIDON, [FRAMES["kamstrup-dk-l3-ams-gh216-1"]]],
                         ids=["Aidon", "Kamstrup DK (power factor)"])
def test_instantaneous_values_expire_energies_do_not(frames):
    from han import fields

    link, pub, dec = play(frames)
    cfg = by_key(link)
    kinds = (fields.K_W, fields.K_VAR, fields.K_A, fields.K_V, fields.K_PF)
    instant = {fields.name(f) for f in range(fields.COUNT) if fields.KINDS[f] in kinds}
    expiring = {k for k, c in cfg.items() if "exp_aft" in c}
    assert expiring == instant & set(cfg) and "current_l1" in expiring
    for key in expiring:
        # two frames of a 10 s list lost leave a 30 s gap; a silent meter shows in a minute
        assert 30 < cfg[key]["exp_aft"] <= 60, key
    assert "active_power_import_total" in cfg and "meter_datetime" in cfg  # these never expire
    if "power_factor" in cfg:
        assert cfg["power_factor"]["dev_cla"] == "power_factor"
        assert "unit_of_meas" not in cfg["power_factor"]


@pytest.mark.parametrize("reactive_class", [False, True])
def test_reactive_energy_class_is_a_setting(reactive_class):
    link, pub, dec = play(AIDON, reactive_class=reactive_class)
    for key in ("reactive_power_import_total", "reactive_power_export_total"):
        c = by_key(link)[key]
        assert (c["unit_of_meas"], c["stat_cla"]) == ("kvarh", "total_increasing")
        # Home Assistant before 2025.6 refuses a config naming reactive_energy
        assert c.get("dev_cla") == ("reactive_energy" if reactive_class else None)
    assert by_key(link)["reactive_power_import"]["dev_cla"] == "reactive_power"


def test_readable_names():
    link, pub, dec = play(AIDON)
    names = {k: c["name"] for k, c in by_key(link).items()}
    assert names["rssi"] == "Wi-Fi signal"
    assert names["frames_bad_crc"] == "Frames with bad CRC"
    assert names["meter_datetime"] == "Meter clock"
    assert len(set(names.values())) == len(names)  # no two alike
    for key, name in names.items():
        assert "_" not in name and name[0].isupper(), (key, name)
        assert not any(w in name for w in ("Rssi", "crc", "Crc", "datetime", "Outbox")), name
        assert not name.endswith(" s"), name
    from ha import DIAGNOSTICS

    assert {names[k] for k in DIAGNOSTICS.split()} == {
        "Good frames", "Frames with bad CRC", "Frames with bad length", "Frames not understood",
        "Uptime", "Free memory", "Wi-Fi signal", "MQTT reconnects", "Readings dropped",
        "Energy values rejected", "Meter silent for"}


@pytest.mark.parametrize(
    "name,text",
    [
        ("active_power_import", "Power import"),
        ("reactive_power_export", "Reactive power export"),
        ("active_power_import_total", "Energy import register"),
        ("reactive_power_import_total", "Reactive energy import register"),
        ("active_power_export_l2_total", "Energy export register L2"),
        ("current_l3", "Current L3"),
        ("power_factor", "Power factor"),
        ("power_factor_l1", "Power factor L1"),
        ("active_power_import_l3", "Power import L3"),
        ("meter_datetime", "Meter clock"),
    ],
)
def test_labels(name, text):
    assert label(name) == text


def test_every_field_has_a_readable_label():
    from han import fields

    labels = [label(fields.name(f)) for f in range(fields.COUNT)]
    assert len(set(labels)) == len(labels)
    for text in labels:
        assert "_" not in text and text[0].isupper() and "  " not in text, text


# -- the capacity tariff ---------------------------------------------------------------

CAPACITY_STATES = [
    # a month's first hour: one peak so far
    {"model": "top3_daily", "month": "2026-01", "peaks": [{"date": "2026-01-01", "hour": 0,
     "kwh": 1.25}], "average_kw": 1.25, "step": 1, "step_limits_kw": [2, 5, 10], "hour_kwh": 0.4,
     "hour_estimate_kwh": 1.6, "headroom_kw": 2.1},
    # none at all (a new month before its first hour is over), at the top step
    {"model": "max_hour", "month": "2026-02", "peaks": [], "average_kw": 0, "step": 3,
     "step_limits_kw": [2, 5, 10], "hour_kwh": 0, "hour_estimate_kwh": 0, "headroom_kw": None},
    {"model": "top3_daily", "month": "2026-01", "peaks": [
        {"date": "2026-01-14", "hour": 17, "kwh": 7.5}, {"date": "2026-01-09", "hour": 8,
         "kwh": 6.25}, {"date": "2026-01-03", "hour": 18, "kwh": 5.0}], "average_kw": 6.25,
     "step": 3, "step_limits_kw": [2, 5, 10], "hour_kwh": 2.5, "hour_estimate_kwh": 4.75,
     "headroom_kw": 3.5},
]


def render(template, state):
    """The template as Home Assistant renders it (Jinja2 in a sandbox, value_json the
    parsed payload, HA's to_json filter), except that any missing key or index raises
    here where Home Assistant would log a template warning."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    env.filters["to_json"] = json.dumps
    return env.from_string(template).render(value_json=json.loads(json.dumps(state))).strip()


def capacity_sensors(link):
    return {k: c for k, c in by_key(link).items() if k.startswith("capacity_")}


def test_capacity_sensors():
    link, pub, dec = play(AIDON)
    cap = capacity_sensors(link)
    assert sorted(cap) == sorted(["capacity_average", "capacity_step", "capacity_hour",
                                  "capacity_hour_estimate", "capacity_headroom",
                                  "capacity_peak_1", "capacity_peak_2", "capacity_peak_3"])
    for c in cap.values():
        assert c["stat_t"] == "hanmq/hanmq_a1b2c3/capacity" and c["dev"]["ids"] == [METER_DEV]
    assert (cap["capacity_average"]["dev_cla"], cap["capacity_average"]["unit_of_meas"],
            cap["capacity_average"]["stat_cla"]) == ("power", "kW", "measurement")
    assert (cap["capacity_headroom"]["dev_cla"], cap["capacity_headroom"]["unit_of_meas"]) == (
        "power", "kW")
    assert "unit_of_meas" not in cap["capacity_step"] and "dev_cla" not in cap["capacity_step"]
    for key in ("capacity_hour", "capacity_hour_estimate", "capacity_peak_1"):
        # it falls every hour: no energy class, no total
        assert cap[key]["unit_of_meas"] == "kWh" and "dev_cla" not in cap[key], key
        assert cap[key].get("stat_cla") in (None, "measurement"), key
    s = CAPACITY_STATES[2]
    got = {k: render(c["val_tpl"], s) for k, c in cap.items()}
    assert got == {"capacity_average": "6.25", "capacity_step": "3", "capacity_hour": "2.5",
                   "capacity_hour_estimate": "4.75", "capacity_headroom": "3.5",
                   "capacity_peak_1": "7.5", "capacity_peak_2": "6.25", "capacity_peak_3": "5.0"}
    attrs = json.loads(render(cap["capacity_peak_2"]["json_attr_tpl"], s))
    assert attrs["date"] == "2026-01-09" and attrs["hour"] == 8
    assert cap["capacity_peak_2"]["json_attr_t"] == "hanmq/hanmq_a1b2c3/capacity"
    step = json.loads(render(cap["capacity_step"]["json_attr_tpl"], s))
    assert step == {"model": "top3_daily", "month": "2026-01", "step_limits_kw": [2, 5, 10]}


@pytest.mark.parametrize("state", CAPACITY_STATES[:2], ids=["one peak", "no peak, top step"])
def test_capacity_templates_survive_fewer_than_three_peaks(state):
    link, pub, dec = play(AIDON)
    cap = capacity_sensors(link)
    n = len(state["peaks"])
    for i in range(3):
        c = cap["capacity_peak_%d" % (i + 1)]
        # "None": Home Assistant shows unknown, no template error in its log
        want = str(state["peaks"][i]["kwh"]) if i < n else "None"
        assert render(c["val_tpl"], state) == want
        attrs = json.loads(render(c["json_attr_tpl"], state))
        assert attrs == (state["peaks"][i] if i < n else {})
    head = render(cap["capacity_headroom"]["val_tpl"], state)
    assert head == ("None" if state["headroom_kw"] is None else str(state["headroom_kw"]))


def test_capacity_off_removes_its_sensors():
    link, pub, dec = play(AIDON, capacity=False)
    cap = [(t, c, r) for t, c, r in sent_configs(link) if "_capacity_" in t]
    assert len(cap) == 8 and all(c is None and r for t, c, r in cap)  # empty, retained
    assert "active_power_import_total_live" in by_key(link)  # the live registers stay


def test_every_announced_sensor_has_a_retained_state_topic():
    """What was lost before: a state sent 1 ms after its config, before Home Assistant
    had subscribed. Every state topic a config names now gets a retained message, so
    Home Assistant has the state whenever its subscription comes."""
    link, pub, dec = play(AIDON)
    pub.set_diagnostics(b'{"frames_good": 3, "frames_bad_crc": 0, "frames_bad_length": 0, '
                        b'"frames_unknown": 0, "uptime": 5, "free_heap": 40000, "rssi": -60, '
                        b'"reconnects": 0, "outbox_dropped": 0, "energy_rejected": 0, '
                        b'"meter_silent_s": 0}')
    pub.service()
    retained = {t for t, p, r in link.sent if r and not t.startswith("homeassistant/")}
    derived = ("_live", "capacity")  # published by energy.py / capacity.py (retained there)
    for key, c in by_key(link).items():
        if not c["stat_t"].endswith(derived):
            assert c["stat_t"] in retained, key


def test_discovery_again_when_home_assistant_comes_online():
    link, pub, dec = play(KAMSTRUP)
    n = len(sent_configs(link))
    link.sent.clear()
    pub.on_ha_status(b"homeassistant/status", b"offline")
    pub.service()
    assert not link.sent
    pub.on_ha_status(b"homeassistant/status", b"online")
    pub.service()
    assert len(sent_configs(link)) == n


def test_discovery_loaded_only_while_announcing():
    import sys

    import ha
    import publisher

    assert publisher._DIAGNOSTICS == len(ha.DIAGNOSTICS.split())
    assert publisher._EXTRAS == len(ha.EXTRAS.split())
    assert [ha.part(ha.EXTRAS, j) for j in range(publisher._EXTRAS)] == ha.EXTRAS.split()
    eager_link, eager, eager_dec = make()
    lazy_link, lazy, lazy_dec = make(lazy=True)
    for pub, dec in ((eager, eager_dec), (lazy, lazy_dec)):
        pub.on_connect()
        for f in AIDON:
            dec.feed(f)
            pub.service()
            pub.service()
    assert lazy_link.sent == eager_link.sent  # the same messages either way
    assert lazy._loaded is None and "ha" not in sys.modules  # and ha.py is gone again
    sys.modules["ha"] = ha
