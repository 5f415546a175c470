# test_energy.py: live energy registers booked in the right hour, the capacity tariff
# by hand over a month, and Aidon's repeated hour (firmware/energy.py, capacity.py).
# MIT license; Copyright (c) 2026 hanmq
#
# The firmware runs in host_tests/mp/energy_driver.py under CPython and under the
# MicroPython VM of the suites (the ESP32-like one where it exists); both must print
# the same. The meter is tools/synthmeter.py: a seeded home's day in Aidon's layout,
# whose true energy per hour is known exactly.

import datetime
import json
import os
import random
import subprocess
import sys

import pytest
from conftest import ROOT, run_micropython

sys.path.insert(0, os.path.join(ROOT, "tools"))
import synthmeter  # noqa: E402

DRIVER = os.path.join(ROOT, "host_tests", "mp", "energy_driver.py")
START = datetime.datetime(2026, 12, 1, 0, 0)
LIMITS = [2, 5, 10, 15, 20, 25, 50, 75, 100]


def write_frames(path, frames, restarts=()):
    with open(path, "w") as f:
        for ms, frame in frames:
            for r in restarts:
                if r == ms:
                    f.write("restart %d\n" % ms)
            f.write("%d %s\n" % (ms, frame.hex()))


def drive(tmp_path, frames, restarts=(), ticks_start=0, model="top3_daily", interpreter="cpython"):
    path = str(tmp_path / "frames.txt")
    write_frames(path, frames, restarts)
    cap = str(tmp_path / ("capacity-%s.json" % interpreter))
    if os.path.exists(cap):
        os.remove(cap)
    args = [DRIVER, path, cap, str(ticks_start), model]
    if interpreter == "cpython":
        p = subprocess.run([sys.executable] + args, capture_output=True, timeout=600)
    else:
        p = run_micropython(args, timeout=600)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    return p.stdout.decode().splitlines()


def live_states(lines, name="active_power_import_total_live"):
    return [(int(p[1]), int(p[3])) for p in (x.split() for x in lines) if p[0] == "L" and p[2] == name]


def state_at(states, ms):
    """The state in force at ms (Home Assistant's view): the last one published before."""
    v = None
    for t, wh in states:
        if t >= ms:
            break
        v = wh
    return v


def booked(states, hours):
    """Each hour's energy as Home Assistant books a total_increasing sensor: the rise of
    the state in force at the hour's end over the one at the hour's start."""
    out = {}
    for h in hours:
        a, b = state_at(states, h * 3600000), state_at(states, (h + 1) * 3600000)
        if a is not None and b is not None:
            out[h] = b - a
    return out


@pytest.fixture(scope="module")
def day():
    # Wh registers (a Kaifa's resolution) in Aidon's layout, so that the register's
    # own rounding is not what is measured
    return synthmeter.SynthMeter(START, synthmeter.Load(seed=7, hours=26), energy_scaler=0)


def test_a_day_lands_in_its_hours_on_both_interpreters(tmp_path, day):
    frames = day.frames(25)
    out = {i: drive(tmp_path, frames, interpreter=i, ticks_start=(1 << 30) - 3 * 3600000)
           for i in ("cpython", "micropython")}
    assert out["cpython"] == out["micropython"]  # the same firmware, the same figures
    states = live_states(out["cpython"])
    values = [wh for _, wh in states]
    assert values == sorted(values)  # never lower than a value published before
    gaps = [b[0] - a[0] for a, b in zip(states, states[1:])]
    assert max(gaps) <= 10000 and min(gaps) > 0  # every 10 s (and once before the hour ends)
    got = booked(states, range(2, 25))  # the first register comes at 01:00:10
    assert sorted(got) == list(range(2, 25))
    worst = 0.0
    for h, wh in got.items():
        true = day.hour_wh(h)
        worst = max(worst, abs(wh - true) / true)
    assert worst <= 0.01, "an hour off by %.2f %%" % (worst * 100)
    # The plain register, as Home Assistant would book it (it changes at hh:00:10):
    # each hour's energy lands an hour late. This is what the live register is for.
    plain = {}
    for h in range(2, 24):
        plain[h] = day.register_wh((h + 1) * 3600 - 3600) - day.register_wh(h * 3600 - 3600)
    late = [h for h in plain if abs(plain[h] - day.hour_wh(h)) > 0.01 * day.hour_wh(h)]
    assert len(late) > 10


def test_capacity_follows_the_hours_of_the_day(tmp_path, day):
    lines = drive(tmp_path, day.frames(25))
    caps = [json.loads(x.split(" ", 2)[2]) for x in lines if x.startswith("C ")]
    last = caps[-1]
    true = {h: day.hour_wh(h) for h in range(1, 24)}  # hour 0 has no register at its start
    top = max(true, key=true.get)
    assert last["model"] == "top3_daily" and last["month"] == "2026-12"
    assert len(last["peaks"]) == 1  # one day: one peak
    p = last["peaks"][0]
    assert (p["date"], p["hour"]) == ("2026-12-01", top)
    assert abs(p["kwh"] * 1000 - true[top]) <= 1.5  # register resolution
    assert last["average_kw"] == p["kwh"]
    assert last["step"] == next(i + 1 for i, x in enumerate(LIMITS) if x >= p["kwh"])
    # updated at least every minute while power arrives
    ts = [int(x.split()[1]) for x in lines if x.startswith("C ")]
    assert max(b - a for a, b in zip(ts, ts[1:])) <= 60000


def test_headroom_is_what_keeps_the_step(tmp_path):
    # Two days with known peaks, then an hour in progress on a third day.
    m = synthmeter.SynthMeter(START, synthmeter.Load(hours=1), energy_scaler=0)
    frames = []
    reg = 10000000
    hourly = {(1, 18): 6000, (2, 18): 8000}  # day, hour: Wh
    for day_ in range(1, 4):
        for h in range(24):
            t = datetime.datetime(2026, 12, day_, h)
            ms = int((t - START).total_seconds() * 1000) + 10000
            frames.append((ms, m.list3_at(t, reg, 1000)))
            reg += hourly.get((day_, h), 500)
            if (day_, h) == (3, 12):
                break
        else:
            continue
        break
    # then 20 minutes of 4 kW on day 3 from 12:00:10 (power readings every 2.5 s)
    t0 = frames[-1][0]
    for k in range(1, 480):
        frames.append((t0 + k * 2500, m._frame([synthmeter._item(synthmeter._obis(1, 0, 1, 7, 0), synthmeter._u32(4000), (0, synthmeter.W))])))
    lines = drive(tmp_path, frames)
    last = json.loads([x for x in lines if x.startswith("C ")][-1].split(" ", 2)[2])
    assert [(p["date"], p["hour"], p["kwh"]) for p in last["peaks"]] == [
        ("2026-12-02", 18, 8.0), ("2026-12-01", 18, 6.0), ("2026-12-03", 0, 0.5)]
    assert last["average_kw"] == 4.833 and last["step"] == 2  # (8 + 6 + 0.5) / 3, 2-5 kW
    # The most this hour can take and stay in step 2: (8 + 6 + E) / 3 <= 5, so E = 1 kWh.
    # hour_kwh so far at 4 kW; the headroom spread over the minutes left gets it there.
    done = last["hour_kwh"]
    assert 1.25 < done < 1.35
    ms_now = int([x for x in lines if x.startswith("C ")][-1].split()[1])
    left_s = 3600 - 10 - (ms_now - t0) / 1000.0
    assert last["headroom_kw"] == 0.0  # 1.3 kWh already drawn: the step goes up anyway
    assert last["hour_estimate_kwh"] == pytest.approx(done + 4.0 * left_s / 3600, abs=0.01)


def _month_frames(seed, days_, start=datetime.datetime(2026, 11, 20)):
    """One list 3 an hour for days_ days: (frames, {(date, hour): Wh})."""
    m = synthmeter.SynthMeter(start, synthmeter.Load(hours=1), energy_scaler=0)
    rng = random.Random(seed)
    frames, hours = [], {}
    reg = 50000000
    for i in range(days_ * 24):
        t = start + datetime.timedelta(hours=i)
        frames.append((i * 3600000 + 10000, m.list3_at(t, reg, 1000)))
        e = rng.choice((300, 800, 1500, 2500)) + rng.randint(0, 999)
        if rng.random() < 0.03:
            e += rng.randint(2000, 9000)  # the car, a sauna
        hours[(t.date().isoformat(), t.hour)] = e
        reg += e
    del hours[(t.date().isoformat(), t.hour)]  # the last hour has no end
    return frames, hours


def _by_hand(hours, month, model):
    best = {}
    for (d, h), e in hours.items():
        if d.startswith(month) and (d not in best or e > best[d][1]):
            best[d] = (h, e)
    peaks = sorted(((e, d, h) for d, (h, e) in best.items()), reverse=True)[: 3 if model == "top3_daily" else 1]
    mean = round(sum(e for e, _, _ in peaks) / len(peaks))
    step = next((i + 1 for i, x in enumerate(LIMITS) if x * 1000 >= mean), len(LIMITS) + 1)
    return [{"date": d, "hour": h, "kwh": e / 1000} for e, d, h in peaks], mean / 1000, step


@pytest.mark.parametrize("model", ["top3_daily", "max_hour"])
def test_a_month_by_hand_across_the_month_boundary_and_a_restart(tmp_path, model):
    frames, hours = _month_frames(3, 16)  # 2026-11-20 .. 2026-12-05
    restart = frames[200][0]  # a restart on 2026-11-28, its capacity read back from flash
    lines = drive(tmp_path, frames, restarts=(restart,), model=model)
    caps = [(int(x.split()[1]), json.loads(x.split(" ", 2)[2])) for x in lines if x.startswith("C ")]
    turn = int((datetime.datetime(2026, 12, 1) - datetime.datetime(2026, 11, 20)).total_seconds() * 1000)
    # The last November figures are those of 30 November 23:00:10 (the list 3 at
    # 00:00:10 closes 23:00-24:00, and shows December).
    november = [c for t, c in caps if t < turn + 60000 and c["month"] == "2026-11"][-1]
    december = caps[-1][1]
    del hours[("2026-11-30", 23)]
    for got, month in ((november, "2026-11"), (december, "2026-12")):
        peaks, mean, step = _by_hand(hours, month, model)
        assert got["model"] == model and got["month"] == month
        assert got["peaks"] == peaks
        assert got["average_kw"] == pytest.approx(mean, abs=0.0011)
        assert got["step"] == step and got["step_limits_kw"] == LIMITS
    s = [x for x in lines if x.startswith("S ")][0].split()
    assert int(s[3]) <= len(frames) - 200  # flash: at most one write an hour (since the restart)


def test_aidon_repeated_hour_is_not_a_new_hour(tmp_path):
    # 20:00 to 02:00 with the car on 22:00-01:30; at 23:00 the meter repeats 22:00's
    # list 3 (amsreader-firmware #1119): without care 22-23 would be booked as 0 and
    # 23-24 as two hours, and the month's peak would be that double hour.
    start = datetime.datetime(2026, 12, 1, 20, 0)
    load = synthmeter.Load(seed=5, start=72000, hours=6)
    m = synthmeter.SynthMeter(start, _Shifted(load, 72000), energy_scaler=1, repeat_hours=(3,))
    lines = drive(tmp_path, m.frames(6), interpreter="micropython")
    s = [x for x in lines if x.startswith("S ")][0].split()
    assert (s[1], s[2]) == ("1", "1")  # one repeat found, one hour closed by estimate
    true = {h: m.hour_wh(h) for h in range(1, 6)}
    states = live_states(lines)
    got = booked(states, range(2, 6))
    for h in got:  # the live register is not thrown by the repeat
        assert abs(got[h] - true[h]) <= 0.01 * true[h] + 10, (h, got[h], true[h])
    cap = json.loads([x for x in lines if x.startswith("C ")][-1].split(" ", 2)[2])
    top = max(true, key=true.get)
    peak = cap["peaks"][0]
    when = start + datetime.timedelta(hours=top)
    assert (peak["date"], peak["hour"]) == (when.date().isoformat(), when.hour)
    assert abs(peak["kwh"] * 1000 - true[top]) <= 0.01 * true[top] + 20


class _Shifted:
    """A Load seen from `offset` s on (so a day's evening starts at t = 0)."""

    def __init__(self, load, offset):
        self.load, self.offset = load, offset

    def power(self, t):
        return self.load.power(t + self.offset)

    def energy_mj(self, a, b):
        return self.load.energy_mj(a + self.offset, b + self.offset)


# -- end to end: the firmware on the simulated board, a real broker ------------------

from broker import Broker, subscriber  # noqa: E402
from dongles import FRAME, readings, wait_offline, wait_online  # noqa: E402

import simulate  # noqa: E402


@pytest.fixture(scope="module")
def broker():
    with Broker() as b:
        yield b


def _values(sub, topic):
    return [(p, r) for t, p, r in sub.messages if t == topic]


@pytest.mark.broker
def test_recorded_repeated_hour_is_withheld(broker):
    """The four list 3 frames of amsreader-firmware #1119 (16:00, 17:00, 17:00 again at
    18:00, 19:00): the repeat goes out as an instantaneous reading, without registers."""
    node = "e0e1e2"
    l1 = FRAME["aidon-no-l1-dlmscosem-aidon-l1"]
    hourly = [FRAME["aidon-no-l3-ams-gh1119-%d" % i] for i in (1, 2, 3, 4)]
    import threading

    gate = threading.Event()

    def meter(write):
        gate.wait(30)
        for f in hourly:
            synthmeter.play([(0, l1), (2500, f)], write, 200, time.monotonic)

    import time

    with subscriber(broker, ["hanmq/hanmq_%s/#" % node]) as sub:
        d = simulate.SimulatedDongle([], broker.host, broker.port, node=node, script=meter,
                                     meter="aidon")
        d.start()
        try:
            wait_online(sub, node)
            gate.set()
            assert d.wait(120) == 0, d.output()
            wait_offline(sub, node)
        finally:
            d.stop()
    got = [r for r in readings(sub, node) if "active_power_import_total" in r or "voltage_l1" in r]
    hours = [r.get("meter_datetime") for r in got]
    assert hours == ["2025-12-14T16:00:00", "2025-12-14T17:00:00", None, "2025-12-14T19:00:00"]
    assert "active_power_import_total" not in got[2] and got[2]["active_power_import"] == 12633
    regs = _values(sub, "hanmq/hanmq_%s/active_power_import_total" % node)
    from conftest import load_expected

    want = [load_expected()["aidon-no-l3-ams-gh1119-%d" % i]["reading"]["active_power_import_total"]
            for i in (1, 2, 4)]
    assert [float(p) for p, r in regs] == want
    assert "the list 3 of the hour before again" in d.output()


@pytest.mark.broker
def test_live_registers_and_capacity_through_a_restart(broker, tmp_path):
    """Two hours of a synthetic Aidon at 300x, a restart, one more hour: the live values
    are retained, never fall (not even across the restart), follow the registers, and
    the capacity figures come retained with every field of DESIGN.md 5."""
    import time

    node = "e1e2e3"
    m = synthmeter.SynthMeter(START, synthmeter.Load(seed=11, hours=4), energy_scaler=1)
    frames = [f for f in m.frames(4) if f[0] < 3 * 3600000 + 30000]
    first = [f for f in frames if f[0] < 2 * 3600000 + 30000]
    second = [(ms - first[-1][0] - 2500, f) for ms, f in frames if ms > first[-1][0]]
    base = "hanmq/hanmq_%s/" % node
    live_topic = base + "active_power_import_total_live"
    work = str(tmp_path)
    runs = []
    with subscriber(broker, [base + "#"]) as sub:
        for part in (first, second):
            mark = sub.mark()
            d = simulate.SimulatedDongle([], broker.host, broker.port, node=node, speed=300,
                                         workdir=work, meter="aidon",
                                         script=lambda w, part=part: synthmeter.play(part, w, 300, time.monotonic))
            d.start()
            try:
                wait_online(sub, node, since=mark)
                assert d.wait(300) == 0, d.output()
                sub.wait_for(lambda t, p, r: t == base + "status" and p == b"offline", 30, mark)
            finally:
                d.stop()
            runs.append(d)
    live = [(float(p), r) for p, r in _values(sub, live_topic)]
    values = [v for v, _ in live]
    with subscriber(broker, [live_topic, base + "capacity"]) as late:  # retained, both
        late.wait_for(lambda t, p, r: t == live_topic and r, 10)
        kept = [p for t, p, r in late.messages if t == live_topic and r]
        assert float(kept[0]) == values[-1], (kept, values[-5:])
        late.wait_for(lambda t, p, r: t == base + "capacity" and r, 10)
    assert values == sorted(values)  # across the restart too
    assert len(values) > 2 * 360 * 0.8  # every 10 s of meter time
    regs = [float(p) for p, r in _values(sub, base + "active_power_import_total")]
    assert len(regs) == 3  # 01:00, 02:00 and, after the restart, 03:00
    assert values[-1] >= regs[-1]
    assert abs(values[-1] - m.register_wh(3 * 3600 - 50) / 1000) < 0.2
    caps = [json.loads(p) for p, r in _values(sub, base + "capacity")]
    assert set(caps[-1]) == {"model", "month", "peaks", "average_kw", "step", "step_limits_kw",
                             "hour_kwh", "hour_estimate_kwh", "headroom_kw"}
    # the restart read the hours back from flash: 01-02 and 02-03 are both known
    assert caps[-1]["peaks"][0]["date"] == "2026-12-01"
    true = {h: m.hour_wh(h) for h in (1, 2)}
    top = max(true, key=true.get)
    assert caps[-1]["peaks"][0]["hour"] == top
    assert abs(caps[-1]["peaks"][0]["kwh"] * 1000 - true[top]) <= 20
    assert os.path.exists(os.path.join(work, "capacity.json"))
