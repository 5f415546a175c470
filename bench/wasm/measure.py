# measure.py: heap held by an import set, or allocated per frame by the Decoder.
# MIT license; Copyright (c) 2026 hanmq
#
# heap32.mjs runs this same script on both VMs, one fresh interpreter per run, so the
# unix port (64-bit) and the WebAssembly port (32-bit) figures are comparable:
#
#   measure.py import MOD [MOD ...]   bytes still held after importing the modules
#   measure.py decoder MOD            ... after importing MOD and keeping MOD.Decoder(cb)
#   measure.py frames FILE            bytes allocated per Decoder.feed(frame), warm;
#                                     FILE has one "id hex" line per frame
#
# Prints "result ..." on one line. Module names come from argv and are not literals
# here, so the qstrs of the names are made, and counted, by the import being measured.
#
# In the WebAssembly port (pyscript variant, auto-growing heap) gc.collect() only marks
# a collection as due: it runs when control returns to JavaScript, where no C stack is
# left to scan. There heap32.mjs makes the calls main() makes, collect(), mem(), load(),
# one at a time from JavaScript, so every collect() has really collected.
# MicroPython only (gc.mem_alloc).

import gc
import sys

# Stand-ins for the board's hardware and socket modules (heap32.mjs writes them).
# Imported before any measurement, so they are not counted.
import board  # noqa: F401
import machine  # noqa: F401
import network  # noqa: F401
import socket  # noqa: F401
import usocket  # noqa: F401

N = 10  # warm feeds per frame
_keep = None


def collect():
    gc.collect()


def mem():
    return gc.mem_alloc()


def load():
    global _keep
    args = sys.argv[1:]
    for m in args[1:]:
        __import__(m)
    if args[0] == "decoder":
        _keep = sys.modules[args[-1]].Decoder(lambda r: None)


def frames(path):
    from binascii import unhexlify

    from han.decoder import Decoder

    count = [0]

    def on_reading(rd):
        count[0] += 1

    d = Decoder(on_reading)
    n = total = worst = 0
    worst_id = "-"
    with open(path) as f:
        for line in f:
            fid, hx = line.split()
            fr = unhexlify(hx)
            d.feed(fr)  # first sight: the meter's id strings are made once
            gc.collect()
            gc.disable()  # (no collection can happen inside the loop on either VM)
            a = gc.mem_alloc()
            for _ in range(N):
                d.feed(fr)
            b = gc.mem_alloc()
            gc.enable()
            per = (b - a) // N
            n += 1
            total += b - a
            if per > worst:
                worst, worst_id = per, fid
    bad = d.bad_crc + d.bad_length + d.unknown
    # frames, readings, rejected, worst, worst frame, mean
    print("result", n, count[0], bad, worst, worst_id, total // (n * N) if n else 0)


def main():
    if sys.argv[1] == "frames":
        frames(sys.argv[2])
        return
    collect()
    a = mem()
    load()
    collect()
    print("result", mem() - a)


if sys.platform != "webassembly":
    main()
