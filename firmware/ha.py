# ha.py: Home Assistant MQTT discovery messages for the meter's fields.
# MIT license; Copyright (c) 2026 hanmq
#
# One retained config message per sensor (single-component discovery), topic
# <prefix>/sensor/<node>_<field>/config. One small message at a time keeps the peak
# memory low; a device-based message for ~30 sensors would need one 5 KB string.
# Keys are HA's documented abbreviations for constrained devices.

from han import fields

#: Diagnostics published besides the meter's fields, in the order app.py reports them.
#: (One string rather than a tuple of names: each separate name would cost RAM.)
DIAGNOSTICS = (
    "frames_good frames_bad_crc frames_bad_length frames_unknown uptime free_heap rssi "
    "reconnects outbox_dropped energy_rejected meter_silent_s"
).split()
# Device class, unit and state class of the few that have them; the rest are counts.
_DIAG_META = {
    "uptime": ("duration", "s", "total_increasing"),
    "free_heap": ("data_size", "B", "measurement"),
    "rssi": ("signal_strength", "dBm", "measurement"),
    "meter_silent_s": ("duration", "s", "measurement"),
}
_COUNT = ("", "", "total_increasing")

# By field kind (fields.K_*): device class, unit, state class, suggested precision.
_BY_KIND = (
    None,  # text: goes into the device block instead
    ("", "", "", -1),  # meter clock: local time without zone, so no timestamp class
    ("power", "W", "measurement", 0),
    ("reactive_power", "var", "measurement", 0),
    ("current", "A", "measurement", 2),
    ("voltage", "V", "measurement", 1),
    ("energy", "kWh", "total_increasing", 3),
    ("reactive_energy", "kvarh", "total_increasing", 3),  # Home Assistant 2025.6 or later
    ("power_factor", "", "measurement", 2),
)


def label(name):
    """A person's name for a field: active_power_import_l1_total -> 'Energy import L1'."""
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
    return (base + rest + phase).replace("_", " ")


def _quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Discovery:
    """Builds the discovery messages of one dongle."""

    def __init__(self, prefix, node, base, version):
        self.prefix = prefix
        self.node = node
        self.base = base
        self.version = version

    def device(self, manufacturer, model, serial):
        parts = ['"ids": [%s]' % _quote(self.node), '"name": "AMS meter"', '"sw": %s' % _quote(self.version)]
        if manufacturer:
            parts.append('"mf": ' + _quote(manufacturer))
        if model:
            parts.append('"mdl": ' + _quote(model))
        if serial:
            parts.append('"sn": ' + _quote(serial))
        return "{" + ", ".join(parts) + "}"

    def message(self, name, device_class, unit, state_class, precision, device, diagnostic):
        """(topic, payload) for one sensor."""
        uid = "%s_%s" % (self.node, name)
        parts = [
            '"name": ' + _quote(label(name)),
            '"uniq_id": ' + _quote(uid),
            '"stat_t": ' + _quote("%s/%s" % (self.base, name)),
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
        topic = "%s/sensor/%s/config" % (self.prefix, uid)
        return topic.encode(), ("{" + ", ".join(parts) + "}").encode()

    def for_field(self, fid, device):
        """(topic, payload) for a meter field, or None for text fields."""
        meta = _BY_KIND[fields.KINDS[fid]]
        if meta is None:
            return None
        name = fields.name(fid)
        return self.message(name, meta[0], meta[1], meta[2], meta[3], device, fid == fields.METER_DATETIME)

    def for_diagnostic(self, i, device):
        name = DIAGNOSTICS[i]
        meta = _DIAG_META.get(name, _COUNT)
        return self.message(name, meta[0], meta[1], meta[2], -1, device, True)
