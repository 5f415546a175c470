# ha.py: Home Assistant MQTT discovery messages: the meter's fields, the dongle's
# diagnostics, the live energy registers and the capacity tariff.
# MIT license; Copyright (c) 2026 hanmq
#
# One retained config message per sensor (single-component discovery), topic
# <prefix>/sensor/<node>_<key>/config. One small message at a time keeps the peak
# memory low; a device-based message for ~40 sensors would need one 6 KB string.
# Keys are HA's documented abbreviations for constrained devices (uniq_id, stat_t,
# avty_t, dev_cla, unit_of_meas, stat_cla, sug_dsp_prc, exp_aft, val_tpl, json_attr_t,
# json_attr_tpl, ent_cat; in the device block ids, mf, mdl, sw, sn; via_device has none).
#
# Two devices:
# - the dongle, identifier <node> (the chip's id), named "hanmq <id>", maker hanmq,
#   model the board, its firmware version: it holds the diagnostics.
# - the meter, identifier <node>_meter, named after it ("Aidon 6534 <id>": maker, model
#   and the dongle's id, so two dongles never give two devices the same name and HA
#   never has to add "_2" to entity ids), with the meter id as its serial number and
#   via_device the dongle.
# The meter device's identifier is the dongle's meter position, not the meter id: the
# sensors' unique ids are <node>_<field> whatever meter is connected, so a device keyed
# on the meter id would, once the grid company replaces the meter, take every sensor
# over and leave the old meter behind as an empty device. Keyed on the position, the
# same device carries on with the new meter's serial, maker and model; the energy
# sensors' history carries on too (total_increasing takes the new meter's lower register
# as a new meter cycle). The dongle keeps <node>, the identifier the single device had
# before, so an existing installation keeps its device and sees the meter move out.
#
# Names are the entity part only: Home Assistant puts the device's name in front.

from micropython import const

from han import fields

# Lists of names are single strings, cut where needed (part()): a list of separate
# strings costs RAM for each, and this module is loaded for every announce.

#: Diagnostics published besides the meter's fields, in the order dongle.py reports them.
DIAGNOSTICS = (
    "frames_good frames_bad_crc frames_bad_length frames_unknown uptime free_heap rssi "
    "reconnects outbox_dropped energy_rejected meter_silent_s"
)
_DIAG_LABELS = (
    "Good frames|Frames with bad CRC|Frames with bad length|Frames not understood|Uptime|"
    "Free memory|Wi-Fi signal|MQTT reconnects|Readings dropped|Energy values rejected|"
    "Meter silent for"
)
# Device class, unit and state class of the few that have them; the rest are counts.
_DIAG_META = {
    "uptime": ("duration", "s", "total_increasing"),
    "free_heap": ("data_size", "B", "measurement"),
    "rssi": ("signal_strength", "dBm", "measurement"),
    "meter_silent_s": ("duration", "s", "measurement"),
}
_COUNT = ("", "", "total_increasing")

# By field kind (fields.K_*): device class, unit, state class.
_BY_KIND = (
    None,  # text: goes into the device block instead
    ("", "", ""),  # meter clock: local time without zone, so no timestamp class
    ("power", "W", "measurement"),
    ("reactive_power", "var", "measurement"),
    ("current", "A", "measurement"),
    ("voltage", "V", "measurement"),
    ("energy", "kWh", "total_increasing"),
    ("reactive_energy", "kvarh", "total_increasing"),  # the class: HA 2025.6 or later
    ("power_factor", "", "measurement"),
)

#: Seconds after which Home Assistant shows an instantaneous value (power, reactive
#: power, current, voltage, power factor) as unavailable when no new one came. The
#: slowest list carrying them comes every 10 s (Kamstrup's, everyone's list 2): two
#: frames lost in a row leave a 30 s gap, which this survives with 15 s to spare; a meter
#: that falls silent while the dongle stays connected shows within 45 s. Energies and
#: the clock have none: they come once an hour, and availability covers the dongle.
_EXPIRE_S = const(45)

#: Sensors the dongle derives (DESIGN.md section 5), queued after the meter's fields as
#: fields.COUNT + index: the live energy registers, then the capacity tariff.
EXTRAS = (
    "active_power_import_total_live active_power_export_total_live capacity_average "
    "capacity_step capacity_hour capacity_hour_estimate capacity_headroom "
    "capacity_peak_1 capacity_peak_2 capacity_peak_3"
)
_LIVE = const(2)  # the first two are the live registers; the rest read <base>/capacity

# The capacity sensors but the peaks, one "|" piece each: label, key in the JSON,
# device class, unit, precision; all are measurements. This hour's energy (so far and
# projected) falls back to 0 every hour: no energy class (HA would take it for a meter's
# register), a measurement in kWh.
_CAPACITY = (
    "Capacity average,average_kw,power,kW,2|Capacity step,step,,,0|"
    "Capacity this hour so far,hour_kwh,,kWh,2|"
    "Capacity this hour projected,hour_estimate_kwh,,kWh,2|"
    "Capacity headroom,headroom_kw,power,kW,2"
)
_CAPACITY_N = const(5)
# The step's attributes: what it is reckoned from.
_STEP_ATTR = (
    "{{ {'model': value_json.model, 'month': value_json.month, "
    "'step_limits_kw': value_json.step_limits_kw} | to_json }}"
)
# The templates never index past the peaks there are (a month's first day has one), so
# Home Assistant logs no template errors; "None" makes a sensor unknown (a missing peak,
# headroom at the top step: null renders as None).
_PEAK_VAL = "{{ value_json.peaks[%d].kwh if value_json.peaks | length > %d else None }}"
_PEAK_ATTR = "{{ value_json.peaks[%d] | to_json if value_json.peaks | length > %d else '{}' }}"


def part(s, i, sep=" "):
    """The i-th piece of s cut at sep, without making a list of them all."""
    a = 0
    while i:
        a = s.index(sep, a) + 1
        i -= 1
    b = s.find(sep, a)
    return s[a:] if b < 0 else s[a:b]


def label(name):
    """A person's name for a field: active_power_import_l1_total -> 'Energy import register
    L1'. The meter's energies say "register": they are its hourly registers; the names
    without it belong to the live registers (EXTRAS), the ones for the energy dashboard."""
    if name == "meter_datetime":
        return "Meter clock"
    s = name
    total = s.endswith("_total")
    if total:
        s = s[:-6]
    phase = ""
    if s[-3:-1] == "_l":
        phase = " L" + s[-1]
        s = s[:-3]
    if s.startswith("reactive_power"):
        base, rest = ("Reactive energy" if total else "Reactive power"), s[14:]
    elif s.startswith("active_power"):
        base, rest = ("Energy" if total else "Power"), s[12:]
    else:
        base, rest = s[0].upper() + s[1:], ""
    return (base + rest).replace("_", " ") + (" register" if total else "") + phase


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Discovery:
    """Builds the discovery messages of one dongle. reactive_class: give the kvarh
    sensors device class reactive_energy (Home Assistant 2025.6 or later; older ones
    refuse the whole config). capacity: announce the capacity sensors (else their
    configs are removed)."""

    def __init__(self, prefix, node, base, version, board="", reactive_class=False,
                 capacity=True):
        self.prefix = prefix
        self.node = node
        self.base = base
        self.version = version
        self.board = board
        self.reactive_class = reactive_class
        self.capacity = capacity
        self.short = node[6:] if node.startswith("hanmq_") else node
        self._meter = None  # (device tuple, its block): the same for a whole burst

    # -- device blocks -----------------------------------------------------------

    def dongle_device(self):
        parts = ['"ids": [%s]' % _quote(self.node), '"name": ' + _quote("hanmq " + self.short),
                 '"mf": "hanmq"', '"sw": ' + _quote(self.version)]
        if self.board:
            parts.append('"mdl": ' + _quote(self.board))
        return "{" + ", ".join(parts) + "}"

    def meter_device(self, manufacturer, model, serial):
        key = (manufacturer, model, serial)
        if self._meter is not None and self._meter[0] == key:
            return self._meter[1]
        name = " ".join([x for x in (manufacturer, model) if x]) or "AMS meter"
        parts = ['"ids": [%s]' % _quote(self.node + "_meter"),
                 '"name": ' + _quote(name + " " + self.short),
                 '"via_device": ' + _quote(self.node)]
        if manufacturer:
            parts.append('"mf": ' + _quote(manufacturer))
        if model:
            parts.append('"mdl": ' + _quote(model))
        if serial:
            parts.append('"sn": ' + _quote(serial))
        block = "{" + ", ".join(parts) + "}"
        self._meter = (key, block)
        return block

    # -- messages ----------------------------------------------------------------

    def message(self, key, name, device_class, unit, state_class, precision, device,
                diagnostic=False, topic=None, more=()):
        """(topic, payload) for one sensor; `more` holds further members as JSON text."""
        uid = "%s_%s" % (self.node, key)
        parts = [
            '"name": ' + _quote(name),
            '"uniq_id": ' + _quote(uid),
            '"stat_t": ' + _quote("%s/%s" % (self.base, topic or key)),
            '"avty_t": ' + _quote(self.base + "/status"),
            '"dev": ' + device,
            '"o": {"name": "hanmq", "sw": %s}' % _quote(self.version),
        ]
        if device_class:
            parts.append('"dev_cla": ' + _quote(device_class))
        if unit:
            parts.append('"unit_of_meas": ' + _quote(unit))
        if state_class:
            parts.append('"stat_cla": ' + _quote(state_class))
        if precision >= 0:
            parts.append('"sug_dsp_prc": %d' % precision)
        if diagnostic:
            parts.append('"ent_cat": "diagnostic"')
        parts.extend(more)
        return self.topic(key), ("{" + ", ".join(parts) + "}").encode()

    def topic(self, key):
        return ("%s/sensor/%s_%s/config" % (self.prefix, self.node, key)).encode()

    def config(self, item, device, decimals=0):
        """(topic, payload) for a queued item (publisher.py): a meter field id, -1 - i for
        diagnostic i, fields.COUNT + j for extra j; None when there is nothing to send.
        device: the meter's (manufacturer, model, serial); decimals: those of the field's
        values as the meter sends them."""
        if item < 0:
            return self.for_diagnostic(-1 - item)
        if item >= fields.COUNT:
            return self.for_extra(item - fields.COUNT, device)
        return self.for_field(item, device, decimals)

    def for_field(self, fid, device, decimals=0):
        """(topic, payload) for a meter field, or None for text fields."""
        kind = fields.KINDS[fid]
        meta = _BY_KIND[kind]
        if meta is None:
            return None
        name = fields.name(fid)
        cls = meta[0]
        more = ()
        if kind == fields.K_VARH and not self.reactive_class:
            cls = ""  # accepted by every version; still kvarh and total_increasing
        elif kind == fields.K_TIME:
            decimals = -1
        elif kind != fields.K_WH and kind != fields.K_VARH:
            more = ('"exp_aft": %d' % _EXPIRE_S,)
        return self.message(name, label(name), cls, meta[1], meta[2], decimals,
                            self.meter_device(*device), kind == fields.K_TIME, more=more)

    def for_diagnostic(self, i):
        name = part(DIAGNOSTICS, i)
        meta = _DIAG_META.get(name, _COUNT)
        return self.message(name, part(_DIAG_LABELS, i, "|"), meta[0], meta[1], meta[2], -1,
                            self.dongle_device(), True)

    def for_extra(self, j, device):
        key = part(EXTRAS, j)
        if j < _LIVE:
            # Plain kWh text with 3 decimals; what the README says to pick for the
            # energy dashboard, so the plainest names.
            name = "Energy import" if j == 0 else "Energy export"
            return self.message(key, name, "energy", "kWh", "total_increasing", 3,
                                self.meter_device(*device))
        if not self.capacity:
            return self.topic(key), b""  # capacity_model "off": remove what was announced
        k = j - _LIVE
        if k < _CAPACITY_N:
            name, field, cls, unit, prec = part(_CAPACITY, k, "|").split(",")
            val = "{{ value_json.%s }}" % field
            attr = _STEP_ATTR if field == "step" else ""
        else:  # a peak: its kWh, with its date and hour (and kWh) as attributes
            n = k - _CAPACITY_N
            name, cls, unit, prec = "Capacity peak %d" % (n + 1), "", "kWh", "2"
            val, attr = _PEAK_VAL % (n, n), _PEAK_ATTR % (n, n)
        more = ['"val_tpl": ' + _quote(val)]
        if attr:
            more.append('"json_attr_t": ' + _quote(self.base + "/capacity"))
            more.append('"json_attr_tpl": ' + _quote(attr))
        return self.message(key, name, cls, unit, "measurement", int(prec),
                            self.meter_device(*device), topic="capacity", more=more)
