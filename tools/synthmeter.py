# synthmeter.py: a synthetic Aidon meter for a home's day, with exact registers.
# MIT license; Copyright (c) 2026 hanmq
#
# The recordings hold minutes of a meter, not days: to see how the dongle books a day's
# energy into its hours, this meter makes the frames an Aidon 6534 (3-phase) sends,
# from a seeded load profile of a Norwegian home in winter (panel heaters on their
# thermostats, a water heater, cooking, an electric car at night), in the documented
# layout (protocol.md 4.1): list 1 every 2.5 s, list 2 every 10 s, list 3 at hh:00:10
# with the clock and the registers as of hh:00:00. The registers are the exact
# integral of the load (kept in mJ), cut to the register's resolution as the meter
# does (Aidon: 10 Wh); `hour_wh()` gives each hour's true energy to check against.
#
#   python tools/synthmeter.py --hours 24 --out day.txt     # lines "<ms> <hex>"
#   python tools/synthmeter.py --hours 3 --repeat-hour 2 --out rep.txt
#
# --repeat-hour H makes the meter send, at hour H, the previous hour's list 3 again
# (clock and registers of the hour before, instantaneous values fresh), as Aidon
# meters do now and then (amsreader-firmware #1119).

import argparse
import datetime
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "host_tests"))

from frame_builder import hdlc_frame  # noqa: E402

W, VAR, WH, VARH, A, V = 0x1B, 0x1D, 0x1E, 0x20, 0x21, 0x23


def _obis(a, b, c, d, e, f=255):
    return b"\x09\x06" + bytes((a, b, c, d, e, f))


def _text(s):
    return bytes((0x0A, len(s))) + s.encode()


def _u32(v):
    return b"\x06" + int(v).to_bytes(4, "big")


def _u16(v):
    return b"\x12" + int(v).to_bytes(2, "big")


def _i16(v):
    return b"\x10" + int(v).to_bytes(2, "big", signed=True)


def _item(code, value, scale=None):
    if scale is None:
        return b"\x02\x02" + code + value
    s, unit = scale
    return b"\x02\x03" + code + value + b"\x02\x02\x0f" + s.to_bytes(1, "big", signed=True) + b"\x16" + bytes((unit,))


def _clock(t):
    wd = t.isoweekday() % 7  # Aidon sends Sunday as 0 (protocol.md 3.4)
    return b"\x09\x0c" + t.year.to_bytes(2, "big") + bytes(
        (t.month, t.day, wd, t.hour, t.minute, t.second, 0xFF, 0, 0, 0))


class Load:
    """A home's power over a day: piecewise constant, changing at random moments."""

    def __init__(self, seed=1, start=0.0, hours=24):
        rng = random.Random(seed)
        self.changes = []  # (t in s, W), sorted
        end = start + hours * 3600
        heaters = [(rng.uniform(0, 600), rng.choice((600, 800, 1000, 1200))) for _ in range(4)]
        t = start
        while t < end:
            tod = (t / 3600.0) % 24
            w = 350 + rng.randint(0, 150)  # fridge, freezer, ventilation, standby
            cold = 1.0 if tod < 7 or tod > 16 else 0.6
            for phase, watts in heaters:  # thermostats: on part of every ~15 minutes
                if ((t + phase) % 900) < 900 * 0.45 * cold:
                    w += watts
            if 6 <= tod < 7.5 or 20 <= tod < 21:
                w += 2000  # water heater
            if 16.5 <= tod < 17.5 and rng.random() < 0.8:
                w += rng.choice((1500, 2300, 3500))  # cooking
            if tod >= 22 or tod < 1.5:
                w += 7400  # the car
            if rng.random() < 0.05:
                w += rng.choice((2000, 2500))  # a kettle, a dryer
            self.changes.append((t, w))
            t += rng.expovariate(1 / 40.0) + 0.1
        self.end = end

    def power(self, t):
        lo, hi = 0, len(self.changes) - 1
        while lo < hi:  # the last change at or before t
            mid = (lo + hi + 1) // 2
            if self.changes[mid][0] <= t:
                lo = mid
            else:
                hi = mid - 1
        return self.changes[lo][1]

    def energy_mj(self, t0, t1):
        """The exact energy between t0 and t1 (s), in mJ."""
        total = 0
        for i, (t, w) in enumerate(self.changes):
            nxt = self.changes[i + 1][0] if i + 1 < len(self.changes) else self.end
            a, b = max(t, t0), min(nxt, t1)
            if b > a:
                total += w * (b - a) * 1000
        return total


class SynthMeter:
    """Frames of an Aidon 6534 from `start` (a naive local datetime on an hour)."""

    def __init__(self, start, load, energy_scaler=1, repeat_hours=(), meter_id="7359992899999999",
                 base_wh=25000000):
        self.start = start
        self.load = load
        self.scaler = energy_scaler
        self.repeat = set(repeat_hours)
        self.meter_id = meter_id
        self.base_mj = base_wh * 3600000

    def register_wh(self, t):
        """The import register (Wh, as the meter shows it) at t seconds after start."""
        wh = (self.base_mj + self.load.energy_mj(0, t)) // 3600000
        unit = 10 ** self.scaler
        return wh // unit * unit

    def hour_wh(self, h):
        """The true energy of hour h (from start), in Wh (a float)."""
        return self.load.energy_mj(h * 3600, (h + 1) * 3600) / 3600000.0

    def _list2_items(self, t):
        p = self.load.power(t)
        amps = p / 230.0 / 3
        return [
            _item(_obis(1, 1, 0, 2, 129), _text("AIDON_V0001")),
            _item(_obis(0, 0, 96, 1, 0), _text(self.meter_id)),
            _item(_obis(0, 0, 96, 1, 7), _text("6534")),
            _item(_obis(1, 0, 1, 7, 0), _u32(p), (0, W)),
            _item(_obis(1, 0, 2, 7, 0), _u32(0), (0, W)),
            _item(_obis(1, 0, 3, 7, 0), _u32(p // 10), (0, VAR)),
            _item(_obis(1, 0, 4, 7, 0), _u32(0), (0, VAR)),
            _item(_obis(1, 0, 31, 7, 0), _i16(round(amps * 10)), (-1, A)),
            _item(_obis(1, 0, 51, 7, 0), _i16(round(amps * 10)), (-1, A)),
            _item(_obis(1, 0, 71, 7, 0), _i16(round(amps * 10)), (-1, A)),
            _item(_obis(1, 0, 32, 7, 0), _u16(2321), (-1, V)),
            _item(_obis(1, 0, 52, 7, 0), _u16(2334), (-1, V)),
            _item(_obis(1, 0, 72, 7, 0), _u16(2310), (-1, V)),
        ]

    def _frame(self, items):
        body = b"\x0f\x40\x00\x00\x00\x00" + b"\x01" + bytes((len(items),)) + b"".join(items)
        return hdlc_frame(b"\xe6\xe7\x00" + body)

    def _list3(self, t, hour):
        h = hour - 1 if hour in self.repeat else hour  # the repeated snapshot
        at = h * 3600
        items = self._list2_items(t)
        unit = 10 ** self.scaler
        items += [
            _item(_obis(0, 0, 1, 0, 0), _clock(self.start + datetime.timedelta(seconds=at))),
            _item(_obis(1, 0, 1, 8, 0), _u32(self.register_wh(at) // unit), (self.scaler, WH)),
            _item(_obis(1, 0, 2, 8, 0), _u32(0), (self.scaler, WH)),
            _item(_obis(1, 0, 3, 8, 0), _u32(self.register_wh(at) // 10 // unit), (self.scaler, VARH)),
            _item(_obis(1, 0, 4, 8, 0), _u32(0), (self.scaler, VARH)),
        ]
        return self._frame(items)

    def list3_at(self, when, wh, power_w):
        """A list 3 with the clock `when` (a datetime) and the import register `wh`."""
        unit = 10 ** self.scaler
        items = self._list2_items(0)
        items[3] = _item(_obis(1, 0, 1, 7, 0), _u32(power_w), (0, W))
        items += [
            _item(_obis(0, 0, 1, 0, 0), _clock(when)),
            _item(_obis(1, 0, 1, 8, 0), _u32(wh // unit), (self.scaler, WH)),
            _item(_obis(1, 0, 2, 8, 0), _u32(0), (self.scaler, WH)),
            _item(_obis(1, 0, 3, 8, 0), _u32(0), (self.scaler, VARH)),
            _item(_obis(1, 0, 4, 8, 0), _u32(0), (self.scaler, VARH)),
        ]
        return self._frame(items)

    def frames(self, hours):
        """(ms after start, frame) for `hours` hours of pushes."""
        out = []
        tick = 0  # 2.5 s steps
        while tick * 2.5 < hours * 3600:
            t = tick * 2.5
            if t % 3600 == 10 and t >= 3600:
                out.append((int(t * 1000), self._list3(t, int(t // 3600))))
            elif t % 10 == 0:
                out.append((int(t * 1000), self._frame(self._list2_items(t))))
            else:
                p = self.load.power(t)
                out.append((int(t * 1000), self._frame([_item(_obis(1, 0, 1, 7, 0), _u32(p), (0, W))])))
            tick += 1
        return out


def play(frames, write, speed, clock):
    """Write each frame at its time, `speed` times faster: clock() is monotonic s."""
    t0 = clock()
    import time

    for ms, frame in frames:
        wait = t0 + ms / 1000.0 / speed - clock()
        if wait > 0:
            time.sleep(wait)
        write(frame)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Frames of a synthetic Aidon meter's day.")
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--start", default="2026-12-01T00:00:00", help="local time, on an hour")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--energy-scaler", type=int, default=1, help="10^x Wh per register unit (Aidon: 1)")
    ap.add_argument("--repeat-hour", type=int, action="append", default=[])
    ap.add_argument("--out", default="-")
    a = ap.parse_args(argv)
    start = datetime.datetime.fromisoformat(a.start)
    m = SynthMeter(start, Load(a.seed, 0, a.hours + 1), a.energy_scaler, a.repeat_hour)
    out = sys.stdout if a.out == "-" else open(a.out, "w")
    for ms, frame in m.frames(a.hours):
        out.write("%d %s\n" % (ms, frame.hex()))
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
