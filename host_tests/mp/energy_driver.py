# energy_driver.py: the firmware's decoder, live energy and capacity tariff over timed
# frames, printing what the dongle would publish. Runs unchanged under CPython and the
# MicroPython unix port (the ESP32-like VM), so both can be compared:
#
#   micropython host_tests/mp/energy_driver.py FRAMES CAPACITY_FILE [TICKS_START]
#
# FRAMES: lines "<ms> <hex>" (tools/synthmeter.py), or "restart <ms>": the dongle
# restarts there (a new Energy and Capacity, the capacity file read back, the
# broker's retained live values handed over as after a reconnect).
# Output: "L <ms> <topic name> <Wh>" per live value published, "C <ms> <json>" per
# capacity message, "S <repeated> <estimated>" at the end.

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../../firmware")
if sys.implementation.name != "micropython":
    sys.path.insert(0, _HERE + "/../../tools/shims")
    import time

    # the ESP32's tick arithmetic (2^30 ms period), which CPython's time lacks
    time.ticks_add = lambda t, d: (t + d) & 0x3FFFFFFF
    time.ticks_diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000

import time  # noqa: E402
from binascii import unhexlify  # noqa: E402

from energy import Energy, kwh_text  # noqa: E402
from han.decoder import Decoder  # noqa: E402


def main():
    frames, cap_path = sys.argv[1], sys.argv[2]
    start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    model = sys.argv[4] if len(sys.argv) > 4 else "top3_daily"
    state = {"now": start, "ms": 0}
    retained = {}

    def boot():
        e = Energy((model, "2,5,10,15,20,25,50,75,100", cap_path))
        for name in retained:  # what the broker kept, after the subscription
            e.on_retained(name, retained[name])
        e.resumed = True
        return e

    energy = [boot()]

    def on_reading(rd):
        now = state["now"]
        e = energy[0]
        e.on_reading(rd, now)
        live = e.live(now)
        if live:
            for reg, wh in live:
                print("L %d %s %d" % (state["ms"], reg.name.decode(), wh))
                e.published(reg, wh)
                retained[reg.name] = kwh_text(wh).encode()
        js = e.capacity_json(now)
        if js is not None:
            print("C %d %s" % (state["ms"], js))

    dec = Decoder(on_reading)
    with open(frames) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "restart":
                energy[0] = boot()
                continue
            ms = int(parts[0])
            state["now"] = time.ticks_add(state["now"], ms - state["ms"])  # steps < 2^29
            state["ms"] = ms
            dec.feed(unhexlify(parts[1]))
    e = energy[0]
    print("S %d %d %d" % (e.repeated, e.estimated, e.saves))


main()
