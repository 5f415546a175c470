# amshan_ref.py: load amshan (PyPI) as an independent reference decoder, in tests only.
# MIT license; Copyright (c) 2026 hanmq
#
# amshan's package is also called `han`, like the firmware's decoder. It is imported
# with the firmware path hidden, then its modules are moved out of sys.modules under
# other names; they keep working through the references they already hold.

import os
import sys

from conftest import FIRMWARE


def _take(prefix):
    return {k: sys.modules.pop(k) for k in list(sys.modules) if k == prefix or k.startswith(prefix + ".")}


def load():
    ours = _take("han")
    path = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != FIRMWARE]
    try:
        from han.autodecoder import AutoDecoder  # amshan's

        amshan = _take("han")
    finally:
        sys.path[:] = path
        sys.modules.update(ours)
    for name, mod in amshan.items():
        sys.modules["amshan_" + name] = mod
    return AutoDecoder


def info_field(frame):
    """The HDLC information field of a whole frame (7E .. 7E)."""
    i = 3
    for _ in range(2):  # destination and source address: last byte has LSB set
        while not frame[i] & 1:
            i += 1
        i += 1
    return frame[i + 3 : -3]  # after control and HCS; before FCS and flag
