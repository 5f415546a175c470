# reading.py: one decoded frame as fixed slots, reused from frame to frame.
# MIT license; Copyright (c) 2026 hanmq
#
# A number is kept exactly as the meter sent it: an integer mantissa and a decimal
# exponent in the field's base unit (W, var, A, V, Wh, varh). Nothing becomes a float:
# ESP32 floats are 32-bit and an energy register of 10049.926 kWh does not survive one.
# Text is printed only when asked for, so decoding itself allocates almost nothing.

from array import array

from han import fields

_K_TEXT = fields.K_TEXT
_K_TIME = fields.K_TIME
_K_WH = fields.K_WH
_K_VARH = fields.K_VARH

_TEXTS = 4  # list_ver_id, meter_manufacturer, meter_id, meter_type

#: Exponent marker for a value whose frame carried no scaler (the profile fills it in).
NOSCALE = 127


def decimal_text(m, e):
    """m * 10**e as exact decimal text: (2367, -1) -> '236.7', (5, 1) -> '50'."""
    if e >= 0:
        return str(m * 10**e)
    s = str(-m if m < 0 else m)
    d = -e
    if len(s) <= d:
        s = "0" * (d - len(s) + 1) + s
    s = s[:-d] + "." + s[-d:]
    return "-" + s if m < 0 else s


def _clean_text(raw):
    # Meters pad with NUL (Landis+Gyr) or spaces; keep printable ASCII only.
    a = 0
    z = len(raw)
    while a < z and (raw[a] == 0 or raw[a] == 32):
        a += 1
    while z > a and (raw[z - 1] == 0 or raw[z - 1] == 32):
        z -= 1
    out = bytearray(raw[a:z])
    for i in range(len(out)):
        if out[i] < 32 or out[i] > 126:
            out[i] = 63  # "?"
    return str(bytes(out), "ascii")


class Reading:
    def __init__(self):
        n = fields.COUNT
        self.has = bytearray(n)
        self.m = [0] * n  # mantissas
        self.e = array("b", bytes(n))  # decimal exponents, -128..127
        self.text = [None] * _TEXTS  # text fields come first: ids 0 .. _TEXTS - 1
        self._raw = [None] * _TEXTS  # bytes behind text, to reuse the str when unchanged
        self.clock = bytearray(12)  # COSEM date-time (Blue Book 4.1.6.1)
        self.list_no = 0  # Norwegian list by content: 1, 2 or 3

    def clear(self):
        has = self.has
        for i in range(len(has)):
            has[i] = 0
        self.list_no = 0

    def set_num(self, fid, m, e):
        self.has[fid] = 1
        self.m[fid] = m
        self.e[fid] = e

    def set_text(self, fid, buf, start, n):
        raw = self._raw[fid]
        if raw is not None and len(raw) == n:
            i = 0
            while i < n and raw[i] == buf[start + i]:
                i += 1
            if i == n:
                self.has[fid] = 1 if self.text[fid] else 0
                return
        raw = bytes(buf[start : start + n])
        self._raw[fid] = raw
        t = _clean_text(raw)
        self.text[fid] = t
        self.has[fid] = 1 if t else 0  # an empty or all-NUL string is no value

    def set_const_text(self, fid, t):
        self.text[fid] = t
        self._raw[fid] = None
        self.has[fid] = 1

    def set_clock(self, buf, start):
        """Take a 12-byte COSEM date-time; keep it only if its fields are sane."""
        c = self.clock
        for i in range(12):
            c[i] = buf[start + i]
        year = (c[0] << 8) | c[1]
        ok = (
            year != 0xFFFF
            and 1 <= c[2] <= 12
            and 1 <= c[3] <= 31
            and c[5] <= 23
            and c[6] <= 59
            and (c[7] <= 59 or c[7] == 0xFF)
        )
        # Weekday (c[4]) is not checked: Aidon sends 0 on Sundays (protocol.md 3.4).
        self.has[fields.METER_DATETIME] = 1 if ok else 0

    def energy_wh(self, fid):
        """An energy register as integer Wh (or varh)."""
        m = self.m[fid]
        e = self.e[fid]
        return m * 10**e if e >= 0 else m // 10 ** (-e)

    def value_text(self, fid):
        """The field's value as text: what goes on an MQTT topic and into JSON."""
        kind = fields.KINDS[fid]
        if kind == _K_TEXT:
            return self.text[fid]
        if kind == _K_TIME:
            c = self.clock
            return "%04d-%02d-%02dT%02d:%02d:%02d" % (
                (c[0] << 8) | c[1],
                c[2],
                c[3],
                c[5],
                c[6],
                c[7] if c[7] != 0xFF else 0,
            )
        e = self.e[fid]
        if kind == _K_WH or kind == _K_VARH:
            e -= 3  # printed in kWh / kvarh
        return decimal_text(self.m[fid], e)

    def to_json(self):
        """One JSON object, fields in table order (identical under every interpreter)."""
        parts = []
        kinds = fields.KINDS
        for fid in range(len(self.has)):
            if self.has[fid]:
                v = self.value_text(fid)
                if kinds[fid] <= _K_TIME:
                    v = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                parts.append('"%s": %s' % (fields.name(fid), v))
        return "{" + ", ".join(parts) + "}"
