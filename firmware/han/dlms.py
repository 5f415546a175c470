# dlms.py: DLMS data-notification and A-XDR walker, and the vendor body layouts.
# MIT license; Copyright (c) 2026 hanmq
#
# APDU (Green Book 9, data-notification): 0F | long-invoke-id (4) | date-time | body.
# The body is one A-XDR Data value (Blue Book 13, Table 2). It is walked in place:
# no tree is built, every value goes straight into the Reading's slots.

from micropython import const


from han import fields
from han.reading import NOSCALE

_T_NULL = const(0x00)
_T_ARRAY = const(0x01)
_T_STRUCT = const(0x02)
_T_BITS = const(0x04)
_T_OCTETS = const(0x09)
_T_VISIBLE = const(0x0A)
_T_UTF8 = const(0x0C)
_T_DATETIME = const(0x19)
_MAX_DEPTH = const(6)

# Size after the tag of each fixed-size A-XDR type; 0xFF: variable or unsupported.
# 03 boolean, 05 int32, 06 uint32, 0D bcd, 0F int8, 10 int16, 11 uint8, 12 uint16,
# 14 int64, 15 uint64, 16 enum, 17 float32, 18 float64, 19 date-time, 1A date, 1B time.
_SIZE = bytes(
    (0, 0xFF, 0xFF, 1, 0xFF, 4, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0xFF, 1)
    + (2, 1, 2, 0xFF, 8, 8, 1, 4, 8, 12, 5, 4)
)
# Integer types: tag -> 1 when signed, 0 when unsigned (others: not an integer).
_INT = {0x05: 1, 0x06: 0, 0x0F: 1, 0x10: 1, 0x11: 0, 0x12: 0, 0x14: 1, 0x15: 0, 0x16: 0}

# Why a frame did not give a reading (passed to on_error).
E_APDU = "not a data-notification"
E_ENCRYPTED = "encrypted frame (general-glo-ciphering): not supported"
E_GBT = "general-block-transfer: not supported"
E_LAYOUT = "unknown body layout"
E_MALFORMED = "malformed body (runs past the frame)"

# Body layout families
_ARRAY = "array"
_PAIRS = "pairs"

# Manufacturers: what the reading says, and which fixed scaling applies.
MF_AIDON = "Aidon"
MF_KAIFA = "Kaifa"
MF_KAMSTRUP = "Kamstrup"
MF_LG = "Landis+Gyr"

# Kaifa sends bare values without OBIS codes; the element count selects the layout
# (protocol.md 4.2): 1 = list 1, 9/14 = 1-phase list 2/3, 13/18 = 3-phase list 2/3.
# Field ids (fields.py): 0 list version, 2 meter id, 3 type, 5-8 P+ P- Q+ Q-,
# 9-11 I L1-L3, 12-14 U L1-L3, 4 clock, 15-18 A+ A- R+ R-.
_KAIFA = {
    1: bytes((5,)),
    9: bytes((0, 2, 3, 5, 6, 7, 8, 9, 12)),
    13: bytes((0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)),
    14: bytes((0, 2, 3, 5, 6, 7, 8, 9, 12, 4, 15, 16, 17, 18)),
    18: bytes((0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 4, 15, 16, 17, 18)),
}

# Decimal exponents for values sent without a scaler, by field kind (K_W .. K_PF):
# Kaifa: I in mA, U in 0.1 V, P in W, E in Wh. Kamstrup (Norway): I in 0.01 A, U in V,
# E in 10 Wh, power factor in 0.01 (protocol.md 0.8, 4.2, 4.3).
_NO_SCALE = {
    MF_KAIFA: (0, 0, -3, -1, 0, 0, 0),
    MF_KAMSTRUP: (0, 0, -2, 0, 1, 1, -2),
}


class Walker:
    """A cursor over one APDU. Reads past the end raise IndexError."""

    def __init__(self, buf):
        self.b = buf
        self.p = 0
        self.depth = 0

    def length(self):
        # A-XDR length / element count, BER form for 128 and more.
        b = self.b
        n = b[self.p]
        self.p += 1
        if n < 0x80:
            return n
        if n == 0x81:
            n = b[self.p]
            self.p += 1
            return n
        if n == 0x82:
            n = (b[self.p] << 8) | b[self.p + 1]
            self.p += 2
            return n
        raise ValueError("length")

    def skip(self):
        """Step over one Data value of any type."""
        b = self.b
        t = b[self.p]
        self.p += 1
        if t == _T_ARRAY or t == _T_STRUCT:
            n = self.length()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise ValueError("nesting")
            for _ in range(n):
                self.skip()
            self.depth -= 1
            return
        if t == _T_OCTETS or t == _T_VISIBLE or t == _T_UTF8:
            n = self.length()
        elif t == _T_BITS:
            n = (self.length() + 7) >> 3
        elif t < len(_SIZE) and _SIZE[t] != 0xFF:
            n = _SIZE[t]
        else:
            raise ValueError("tag")
        if self.p + n > len(b):
            raise IndexError
        self.p += n

    def integer(self, t):
        # Big-endian integer of type t at p (p just past the tag). No allocation for
        # values that fit a small int.
        b = self.b
        p = self.p
        n = _SIZE[t]
        v = 0
        for i in range(p, p + n):
            v = (v << 8) | b[i]
        self.p = p + n
        if _INT[t] and v >> (8 * n - 1):
            v -= 1 << (8 * n)
        return v

    def obis_field(self):
        """At `09 06 <OBIS>`: step over it and return the field id, or -1."""
        b = self.b
        p = self.p
        if p + 8 > len(b):
            raise IndexError
        self.p = p + 8
        return fields.OBIS.get((b[p + 4] << 16) | (b[p + 5] << 8) | b[p + 6], -1)

    def is_obis(self):
        b = self.b
        return b[self.p] == _T_OCTETS and b[self.p + 1] == 6

    def value(self, rd, fid):
        """Read one value into field fid of the reading (or step over it)."""
        b = self.b
        t = b[self.p]
        if fid < 0:
            self.skip()
            return
        kind = fields.KINDS[fid]
        if t in _INT and kind > fields.K_TIME:
            self.p += 1
            rd.set_num(fid, self.integer(t), NOSCALE)
        elif (t == _T_OCTETS or t == _T_VISIBLE or t == _T_UTF8) and kind <= fields.K_TIME:
            self.p += 1
            n = self.length()
            if self.p + n > len(b):
                raise IndexError
            if kind == fields.K_TEXT:
                rd.set_text(fid, b, self.p, n)
            elif n == 12:
                rd.set_clock(b, self.p)
            self.p += n
        elif t == _T_DATETIME and kind == fields.K_TIME:
            if self.p + 13 > len(b):
                raise IndexError
            rd.set_clock(b, self.p + 1)
            self.p += 13
        else:
            self.skip()  # null-data placeholder, or a type this field cannot hold

    def scaler(self):
        """At a scaler-unit `02 02 0F ss 16 uu` (Blue Book 4.3.2): return ss."""
        b = self.b
        p = self.p
        if b[p] == _T_STRUCT and b[p + 1] == 2 and b[p + 2] == 0x0F and b[p + 4] == 0x16:
            self.p = p + 6
            s = b[p + 3]
            return s - 256 if s > 127 else s
        self.skip()
        return NOSCALE


def _items(w, rd, count):
    # Aidon and Landis+Gyr: array of {OBIS, value} or {OBIS, value, scaler-unit}.
    b = w.b
    for _ in range(count):
        if b[w.p] != _T_STRUCT:
            w.skip()
            continue
        w.p += 1
        n = w.length()
        if n < 2 or not w.is_obis():
            for _ in range(n):
                w.skip()
            continue
        fid = w.obis_field()
        w.value(rd, fid)
        if n > 2:
            s = w.scaler()
            if fid >= 0 and s != NOSCALE and rd.has[fid] and fields.KINDS[fid] > fields.K_TIME:
                rd.e[fid] = s
            for _ in range(n - 3):
                w.skip()


def _pairs(w, rd, count):
    # Kamstrup (and Swedish Kaifa): flat structure of OBIS, value pairs; Kamstrup puts
    # its list version first without an OBIS code and pads 1-phase lists with null-data
    # (protocol.md 4.3): walk element by element, never by fixed offsets.
    i = 0
    while i < count:
        if w.is_obis():
            fid = w.obis_field()
            i += 1
            if i < count:
                w.value(rd, fid)
                i += 1
        elif i == 0:
            w.value(rd, fields.LIST_VER_ID)
            i += 1
        else:
            w.skip()
            i += 1


def _positional(w, rd, layout):
    for fid in layout:
        w.value(rd, fid)


def _body(w, rd):
    """Walk the notification body. Returns the layout family: _ARRAY, _PAIRS, MF_KAIFA
    (positional, which alone tells the maker), or E_LAYOUT."""
    b = w.b
    t = b[w.p]
    w.p += 1
    n = w.length()
    if t == _T_ARRAY:
        _items(w, rd, n)
        return _ARRAY
    if t != _T_STRUCT or n == 0:
        return E_LAYOUT
    first = b[w.p]
    if w.is_obis():
        _pairs(w, rd, n)
        return _PAIRS
    if n == 1 and first in _INT:
        _positional(w, rd, _KAIFA[1])  # Kaifa list 1: the only unlabelled list
        return MF_KAIFA
    if first == _T_OCTETS or first == _T_VISIBLE:
        # Peek at the second element: an OBIS code means pairs with a leading list
        # version (Kamstrup); otherwise bare values by position (Kaifa).
        p = w.p
        w.skip()
        pairs = n > 1 and w.is_obis()
        w.p = p
        if pairs:
            _pairs(w, rd, n)
            return _PAIRS
        layout = _KAIFA.get(n)
        if layout is not None:
            _positional(w, rd, layout)
            return MF_KAIFA
    return E_LAYOUT


def _manufacturer(list_ver):
    if list_ver is None:
        return None
    if list_ver.startswith("AIDON"):
        return MF_AIDON
    if list_ver.startswith("KFM"):
        return MF_KAIFA
    if list_ver.startswith("Kamstrup"):
        return MF_KAMSTRUP
    if list_ver.startswith("EMBRIQ"):
        return MF_LG
    return None


def decode_apdu(buf, rd, last_mf):
    """Decode an HDLC information field (LLC + APDU) into rd. Returns None, or the
    reason (E_*) why there is no reading. Raises IndexError or ValueError on a
    malformed body. last_mf names the maker seen earlier on this stream, for lists
    that carry no identifier (Aidon and Landis+Gyr list 1)."""
    w = Walker(buf)
    if buf[0] == 0xE6:
        w.p = 3  # LLC E6 E7 00 (IEC 8802-2), present on every Norwegian frame
    t = buf[w.p]
    if t != 0x0F:
        if t == 0xDB or t == 0xDF:
            return E_ENCRYPTED
        if t == 0xE0:
            return E_GBT
        return E_APDU
    w.p += 5  # tag and long-invoke-id-and-priority: skipped, never checked
    # Date-time (protocol.md 3.2): 00 absent, 0C + 12 (A-XDR octet-string),
    # 09 0C + 12 (typed, Kaifa and old Kamstrup), or 19 + 12 (typed date-time).
    t = buf[w.p]
    if t == _T_OCTETS or t == _T_DATETIME:
        w.value(rd, fields.METER_DATETIME)
    else:
        w.p += 1
        if t == 12:
            rd.set_clock(buf, w.p)
        w.p += t
    family = _body(w, rd)
    if family is E_LAYOUT:
        return E_LAYOUT
    has = rd.has
    mf = _manufacturer(rd.text[fields.LIST_VER_ID] if has[fields.LIST_VER_ID] else None)
    if mf is None:
        if family is MF_KAIFA:
            mf = MF_KAIFA
        elif family is _ARRAY and (last_mf == MF_AIDON or last_mf == MF_LG):
            mf = last_mf  # list 1 of an Aidon-format meter names no maker
        elif family is _PAIRS and last_mf == MF_KAMSTRUP:
            mf = last_mf
    scale = _NO_SCALE.get(mf)
    energy = 0
    numbers = 0
    kinds = fields.KINDS
    for fid in range(fields.ACTIVE_POWER_IMPORT, len(has)):
        if not has[fid]:
            continue
        numbers += 1
        k = kinds[fid]
        if rd.e[fid] == NOSCALE:
            rd.e[fid] = scale[k - fields.K_W] if scale else 0
        if k == fields.K_WH or k == fields.K_VARH:
            energy = 1
    if numbers == 0 and not has[fields.METER_ID]:
        return E_LAYOUT
    if mf is not None:
        rd.set_const_text(fields.METER_MANUFACTURER, mf)
    if energy:
        rd.list_no = 3
    elif numbers > 1 or has[fields.METER_ID]:
        rd.list_no = 2
    else:
        rd.list_no = 1
    return None
