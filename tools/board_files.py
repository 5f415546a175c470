# board_files.py: runs ON THE BOARD (MicroPython), started by tools/deploy.py with
# `mpremote connect PORT run tools/board_files.py`. Not part of the firmware.
# MIT license; Copyright (c) 2026 hanmq
#
# Prints, one line each:
#   I <sys.implementation._mpy> <MicroPython version> <machine>
#   D <dir>                      every directory, relative to ROOT
#   F <sha256 hex> <file>        every file, hashed by the board itself
#   M <line>                     each line of ROOT/.hanmq-manifest, if there is one
# The board hashes its own files, so what deploy.py compares against is what the
# flash holds now, whatever copied it there.

import binascii
import hashlib
import os
import sys

ROOT = "/"
_buf = bytearray(512)
_mv = memoryview(_buf)


def _walk(d):
    for e in os.ilistdir(ROOT + d if d else ROOT):
        p = d + "/" + e[0] if d else e[0]
        if e[1] & 0x4000:
            print("D", p)
            _walk(p)
        else:
            h = hashlib.sha256()
            with open(ROOT + p, "rb") as f:
                while True:
                    n = f.readinto(_buf)
                    if not n:
                        break
                    h.update(_mv[:n])
            print("F", binascii.hexlify(h.digest()).decode(), p)


_i = sys.implementation
print("I", getattr(_i, "_mpy", 0), "%d.%d.%d" % _i.version[:3], getattr(_i, "_machine", "?"))
_walk("")
try:
    with open(ROOT + ".hanmq-manifest") as _f:
        for _line in _f:
            print("M", _line.rstrip())
except OSError:
    pass
