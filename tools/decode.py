# decode.py: decode recorded HAN frames with the firmware's own decoder.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/decode.py [--raw] [FILE|-]
#   micropython tools/decode.py [--raw] [FILE|-]      (same output)
#
# Input: lines of hex (spaces allowed, '#' starts a comment; a line may hold several
# frames or part of one), or with --raw the bytes as read from the UART.
# Output: one JSON object per decoded frame on stdout; every frame that failed a
# check on stderr, one line each with its byte offset and the reason, then a summary.
# Exit status: 0 when the input was read, 2 for bad arguments or an unreadable file.
# This file runs under CPython and MicroPython alike: no CPython-only features.

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../firmware")
if sys.implementation.name != "micropython":
    sys.path.insert(0, _HERE + "/shims")  # micropython.const for CPython

from binascii import unhexlify  # noqa: E402

from han.decoder import Decoder  # noqa: E402

USAGE = "usage: decode.py [--raw] [FILE|-]"


def _err(text):
    sys.stderr.write(text + "\n")


def _print_reading(rd):
    print(rd.to_json())


def _print_error(reason, offset):
    _err("offset %d: %s" % (offset, reason))


def _feed_hex(f, dec):
    # Memory stays bounded whatever the line length: no split() into many small
    # strings, and the bytes are converted 512 hex digits at a time.
    carry = ""
    lineno = 0
    for line in f:
        lineno += 1
        if isinstance(line, bytes):
            line = line.decode()
        i = line.find("#")
        if i >= 0:
            line = line[:i]
        digits = line.strip()
        for space in (" ", "\t", "\r"):
            if space in digits:
                digits = digits.replace(space, "")
        digits = carry + digits
        carry = ""
        if len(digits) & 1:
            carry = digits[-1]
            digits = digits[:-1]
        try:
            for k in range(0, len(digits), 512):
                dec.feed(unhexlify(digits[k : k + 512]))
        except ValueError:
            _err("line %d: not hex, skipped" % lineno)
            carry = ""


def _feed_raw(f, dec):
    buf = bytearray(512)  # one buffer, as the firmware reads its UART
    mv = memoryview(buf)
    while True:
        n = f.readinto(buf)
        if not n:
            return
        dec.feed(mv[:n])


def main(argv):
    raw = False
    path = None
    for a in argv:
        if a == "--raw":
            raw = True
        elif a in ("-h", "--help"):
            print(USAGE)
            return 0
        elif a.startswith("--"):
            _err(USAGE)
            return 2
        elif path is None:
            path = a
        else:
            _err(USAGE)
            return 2
    dec = Decoder(_print_reading, _print_error)
    if path is None or path == "-":
        f = sys.stdin.buffer if raw else sys.stdin
        close = False
    else:
        try:
            f = open(path, "rb" if raw else "r")
        except OSError as e:
            _err("cannot read %s: %s" % (path, e))
            return 2
        close = True
    try:
        if raw:
            _feed_raw(f, dec)
        else:
            _feed_hex(f, dec)
    except OSError as e:
        _err("cannot read %s: %s" % (path, e))
        return 2
    finally:
        if close:
            f.close()
    left = dec.framer.pending()
    if left:
        _err("offset %d: truncated frame at the end of the input (%d bytes)" % (dec.framer.offset, left))
    _err(
        "frames: good %d, bad crc %d, bad length %d, unknown layout %d; readings %d"
        % (dec.good, dec.bad_crc, dec.bad_length, dec.unknown, dec.decoded)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
