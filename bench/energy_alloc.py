# energy_alloc.py: heap bytes the live energy registers and the capacity tariff cost per
# reading, in the MicroPython VM (firmware/energy.py, firmware/capacity.py).
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/synthmeter.py --hours 2 --out bench/out/synth.txt
#   python tools/build.py --out build/esp32_devkit       # bytecode, as on a board
#   ../shared/esp32vm/micropython -X heapsize=96k bench/energy_alloc.py bench/out/synth.txt
#
# The frames (tools/synthmeter.py: an Aidon 6534, list 1 every 2.5 s, list 2 every 10 s,
# list 3 hourly) are decoded first (the decoder's own cost is bench/alloc.py's); then,
# with the collector off, Energy.on_reading() and what the dongle asks of it after each
# reading (live(), capacity_json()) run over every reading, on a clock stepped as the
# meter's. Printed: bytes per reading on average and the largest single reading, split
# into the integration (on_reading), the live values and the capacity figures (which
# load capacity.py, compute, and drop it again, once a minute and at each hour's end);
# and the live heap the two modules and their objects hold between readings.

import gc
import sys
import time
from binascii import unhexlify

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
# the board's bytecode (compiling source at import would be measured too), else source
sys.path.insert(0, _HERE + "/../firmware")
sys.path.insert(0, _HERE + "/../build/esp32_devkit")

from han.decoder import Decoder  # noqa: E402


def main():
    from energy import Energy

    gc.collect()
    base = gc.mem_alloc()
    e = Energy(("top3_daily", "2,5,10,15,20,25,50,75,100", "/tmp/hanmq-bench-capacity.json"))
    e.resumed = True
    gc.collect()
    held = gc.mem_alloc() - base
    t0 = time.ticks_ms()
    parts = [0, 0, 0]
    worst = [0, 0, 0]
    n = [0]
    clock = [0]

    def on_reading(rd):
        now = time.ticks_add(t0, clock[0])
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        e.on_reading(rd, now)
        b = gc.mem_alloc()
        live = e.live(now)
        if live:
            for reg, wh in live:
                e.published(reg, wh)
        c = gc.mem_alloc()
        e.capacity_json(now)
        d = gc.mem_alloc()
        gc.enable()
        for i, x in enumerate((b - a, c - b, d - c)):
            parts[i] += x
            worst[i] = max(worst[i], x)
        n[0] += 1

    dec = Decoder(on_reading)
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.split()
            clock[0] = int(p[0])
            dec.feed(unhexlify(p[1]))
    gc.collect()
    k = n[0]
    print("readings %d (%d s of meter time)" % (k, clock[0] // 1000))
    print("per reading, average: on_reading %d B, live %d B, capacity %d B" % tuple(x // k for x in parts))
    print("largest single reading: on_reading %d B, live %d B, capacity %d B" % tuple(worst))
    print("held between readings: Energy and energy.py %d B (capacity.py not loaded)" % held)


main()
