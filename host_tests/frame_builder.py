# frame_builder.py: build HDLC frames for tests, independently of the firmware.
# MIT license; Copyright (c) 2026 hanmq


def crc_x25(data):
    """CRC-16/X.25 bit by bit (not the decoder's table)."""
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c ^ 0xFFFF


def hdlc_frame(info, dst=b"\x41", src=b"\x08\x83", ctrl=0x13, segmented=False):
    """7E | format (type 3, S bit, 11-bit length) | addresses | control | HCS | info | FCS | 7E"""
    length = 2 + len(dst) + len(src) + 1 + 2 + len(info) + 2
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    head = bytes((fmt >> 8, fmt & 0xFF)) + dst + src + bytes((ctrl,))
    h = crc_x25(head)
    body = head + bytes((h & 0xFF, h >> 8)) + info
    f = crc_x25(body)
    return b"\x7e" + body + bytes((f & 0xFF, f >> 8)) + b"\x7e"
