# crc.py: CRC-16/X.25 (HDLC FCS-16) for the HCS and FCS of IEC 62056-46 frames.
# MIT license; Copyright (c) 2026 hanmq
#
# Width 16, reflected polynomial 0x8408, init 0xFFFF, xorout 0xFFFF (RFC 1662 FCS-16).
# The check value of b"123456789" is 0x906E. The frame carries the CRC low byte first.

from array import array


def _make_table():
    # 256 x 16-bit entries: 512 bytes, built once at import.
    t = array("H", bytes(512))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t[i] = c
    return t


_TABLE = _make_table()


def crc16(buf, start, end):
    """CRC-16/X.25 of buf[start:end], without allocating."""
    t = _TABLE
    c = 0xFFFF
    for i in range(start, end):
        c = (c >> 8) ^ t[(c ^ buf[i]) & 0xFF]
    return c ^ 0xFFFF


def check(buf, start, end):
    """True when the two bytes at buf[end:end+2] are the CRC of buf[start:end] (LSB first)."""
    c = crc16(buf, start, end)
    return buf[end] == (c & 0xFF) and buf[end + 1] == (c >> 8)
