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


def make(ha=True, **kw):
    link = RecordingLink()
    disc = Discovery("homeassistant", "hanmq_a1b2c3", "hanmq/hanmq_a1b2c3", "0.1.0") if ha else None
    pub = Publisher(link, "hanmq/hanmq_a1b2c3", disc, **kw)
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
    assert topics[base + "active_power_import"] == ("4027", False)
    assert topics[base + "active_power_import_total"] == ("109552.25", True)  # retained
    assert topics[base + "voltage_l1"] == ("233.0", False)
    assert topics[base + "meter_id"] == ("7359992890497997", False)
    assert topics[base + "meter_datetime"] == ("2025-12-14T16:00:00", False)
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


def test_discovery_messages():
    link, pub, dec = make()
    pub.on_connect()
    dec.feed(AIDON_L3)
    pub.service()
    pub.service()
    configs = {t: json.loads(p) for t, p, r in link.sent if t.startswith("homeassistant/")}
    assert all(r for t, p, r in link.sent if t.startswith("homeassistant/"))  # retained
    assert ("hanmq/hanmq_a1b2c3/status", "online", True) in link.sent
    ids = [c["uniq_id"] for c in configs.values()]
    assert len(ids) == len(set(ids))
    by_id = {c["uniq_id"]: c for c in configs.values()}
    e = by_id["hanmq_a1b2c3_active_power_import_total"]
    assert (e["dev_cla"], e["unit_of_meas"], e["stat_cla"]) == ("energy", "kWh", "total_increasing")
    assert e["stat_t"] == "hanmq/hanmq_a1b2c3/active_power_import_total"
    assert e["avty_t"] == "hanmq/hanmq_a1b2c3/status"
    assert e["dev"] == {"ids": ["hanmq_a1b2c3"], "name": "AMS meter", "sw": "0.1.0", "mf": "Aidon",
                        "mdl": "6534", "sn": "7359992890497997"}
    assert e["o"]["name"] == "hanmq"
    allowed = {"power": {"W"}, "reactive_power": {"var"}, "current": {"A"}, "voltage": {"V"},
               "energy": {"kWh"}, "reactive_energy": {"kvarh"}, "signal_strength": {"dBm"},
               "data_size": {"B"}, "duration": {"s"}}
    for c in configs.values():
        if "dev_cla" in c and c["dev_cla"] in allowed:
            assert c.get("unit_of_meas") in allowed[c["dev_cla"]], c
    assert by_id["hanmq_a1b2c3_reactive_power_export_total"]["unit_of_meas"] == "kvarh"
    assert by_id["hanmq_a1b2c3_rssi"]["ent_cat"] == "diagnostic"
    assert "hanmq_a1b2c3_meter_id" not in by_id  # texts go into the device block


def test_discovery_again_when_home_assistant_comes_online():
    link, pub, dec = make()
    dec.feed(KAMSTRUP_L2)
    pub.service()
    n = sum(1 for t, p, r in link.sent if t.startswith("homeassistant/"))
    link.sent.clear()
    pub.on_ha_status(b"homeassistant/status", b"offline")
    pub.service()
    assert not link.sent
    pub.on_ha_status(b"homeassistant/status", b"online")
    pub.service()
    assert sum(1 for t, p, r in link.sent if t.startswith("homeassistant/")) == n


@pytest.mark.parametrize(
    "name,text",
    [
        ("active_power_import", "Power import"),
        ("reactive_power_export", "Reactive power export"),
        ("active_power_import_total", "Energy import"),
        ("reactive_power_import_total", "Reactive energy import"),
        ("active_power_export_l2_total", "Energy export L2"),
        ("current_l3", "Current L3"),
        ("power_factor", "Power factor"),
    ],
)
def test_labels(name, text):
    assert label(name) == text


def test_discovery_loaded_only_while_announcing():
    import sys

    import ha
    import publisher

    assert publisher._DIAGNOSTICS == len(ha.DIAGNOSTICS)
    eager_link, eager, eager_dec = make()
    lazy_link = RecordingLink()
    lazy = Publisher(lazy_link, "hanmq/hanmq_a1b2c3", ("homeassistant", "hanmq_a1b2c3", "hanmq/hanmq_a1b2c3", "0.1.0"))
    lazy_dec = Decoder(lambda rd: lazy.on_reading(rd, lazy_dec.frame))
    for pub, dec in ((eager, eager_dec), (lazy, lazy_dec)):
        pub.on_connect()
        dec.feed(AIDON_L3)
        pub.service()
        pub.service()
    assert lazy_link.sent == eager_link.sent  # the same messages either way
    assert lazy._loaded is None and "ha" not in sys.modules  # and ha.py is gone again
    sys.modules["ha"] = ha
