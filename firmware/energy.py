# energy.py: live energy registers, and which hour the energy belongs to (DESIGN.md 5).
# MIT license; Copyright (c) 2026 hanmq
#
# A meter sends its energy registers once an hour, in list 3, some seconds after the
# hour (Kaifa and Aidon at hh:00:10, Kamstrup up to hh:00:55: protocol.md 1.4) with
# the registers as of hh:00:00. Home Assistant books a total_increasing sensor's rise
# in the hour in which the state changes, so the plain register books every hour one
# hour late. The live register is the last register plus the active power integrated
# since, published every 10 s (at least every 60 s), and once more just before each
# hour ends with the few seconds left added at the present power: the state in force
# at the hour's end holds that hour's energy. At each list 3 it is re-anchored to the
# register (plus what was integrated since hh:00:00), and it never falls below a value
# published before: the rest of an estimate that ran ahead is simply not shown until
# the meter's register passes it.
#
# All energy is integer: Wh, with the millijoules short of the next Wh kept apart
# (ESP32 floats are 32-bit: 10049.926 kWh does not survive one). Time for the
# integration is the board's ticks (ms, the same pace as the meter's clock); the hour
# boundaries come from the meter's clock (MeterTime), so the hours are the meter's.
#
# Aidon sometimes sends the previous hour's list 3 again (clock and registers of the
# hour before, instantaneous values fresh: amsreader-firmware #1119, protocol.md
# section 9): such a list 3 is taken as a list 2 (its registers and clock withheld,
# counted in `repeated`), and the hour it should have closed is closed with the live
# estimate, so neither that hour nor the next is booked wrong.

import sys
import time

from han import fields
from han.reading import decimal_text

_IMP = fields.ACTIVE_POWER_IMPORT
_EXP = fields.ACTIVE_POWER_EXPORT
_IMP_TOTAL = fields.ACTIVE_POWER_IMPORT_TOTAL
_EXP_TOTAL = fields.ACTIVE_POWER_EXPORT_TOTAL
_CLOCK = fields.METER_DATETIME

_MJ_PER_WH = 3600000  # W x ms = mJ
#: Live values go out at most this often, and at least this often while power arrives.
EVERY_MS = 10000
AT_LEAST_MS = 60000
#: A gap in the power readings longer than this is not bridged at the last power
#: (the meter fell silent; the next list 3 puts the register right).
GAP_MS = 30000
#: List 3 is sent this long after the hour (Aidon, Kaifa): the clock estimate it gives
#: where no other frame carries a clock (Aidon lists 1 and 2 have none).
LIST3_AT_S = 10
#: A retained live value from before a restart that is more than this above the
#: meter's register is not this meter's (43 kW, 3 x 63 A, for an hour is 44 kWh).
RESUME_SLACK_WH = 50000
#: Hour ends queued for capacity.py at most (a day's).
_ENDS_KEPT = 24


def days(y, m, d):
    """Days from 2000-01-01 to the date (proleptic Gregorian calendar)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 730425


def date(n):
    """(year, month, day) of day n after 2000-01-01: the inverse of days()."""
    z = n + 730425
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def clock_s(c):
    """A COSEM date-time (12 bytes, Blue Book 4.1.6.1) as seconds since 2000-01-01 on
    the meter's own clock (its local time as it states it; deviation and DST bits are
    not trusted: protocol.md 3.4)."""
    sec = c[7] if c[7] != 0xFF else 0
    return (days((c[0] << 8) | c[1], c[2], c[3]) * 24 + c[5]) * 3600 + c[6] * 60 + sec


def kwh_text(wh):
    """Integer Wh as kWh with three decimals (the reading's own exact formatting)."""
    return decimal_text(wh, -3)


def kwh_value(text):
    """kWh text (as kwh_text() writes it, or fewer decimals) as integer Wh; None if it
    is not one."""
    try:
        s = text.decode() if isinstance(text, (bytes, bytearray)) else text
        whole, _, frac = s.strip().partition(".")
        if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 3:
            return None
        return int(whole) * 1000 + int((frac + "000")[:3])
    except (ValueError, UnicodeError):
        return None


def _watts(rd, fid):
    m = rd.m[fid]
    e = rd.e[fid]
    return m * 10**e if e >= 0 else m // 10 ** (-e)


class MeterTime:
    """The meter's clock between the frames that carry it: seconds since 2000-01-01,
    advanced by the board's ticks."""

    def __init__(self):
        self._s = None  # meter seconds at _t
        self._t = 0  # ticks_ms of _s

    def known(self):
        return self._s is not None

    def now_s(self, now):
        d = time.ticks_diff(now, self._t)
        if d >= 60000 or d < 0:  # keep the span well inside ticks_diff's +-2^29 ms
            whole = d // 1000
            self._s += whole
            self._t = time.ticks_add(self._t, whole * 1000)
            d -= whole * 1000
        return self._s + d // 1000, d % 1000  # seconds, and ms past them

    def see(self, s, now, slack):
        """A clock reading s (seconds): taken when no estimate exists or the estimate
        is more than `slack` seconds off (a clock set, a restart, a summer time step)."""
        if self._s is not None:
            est = self.now_s(now)[0]
            if -slack <= s - est <= slack:
                return
        self._s = s
        self._t = now


class Register:
    """One live register: import or export."""

    def __init__(self, power_id, total_id, name):
        self.power_id = power_id
        self.total_id = total_id
        self.name = name  # topic name under the base topic
        # The live value, integer Wh. Until the first register (or a resume) it counts
        # from 0, so that what is drawn between the hour and its list 3 is not lost.
        self.wh = 0
        self.anchored = False
        self._mj = 0  # the part short of the next Wh, in mJ
        self.w = None  # the last power, W
        self.floor = None  # the highest value published (never go below it)
        self.at_hour = None  # the live value at the last hour boundary crossed

    def forget(self):
        self.wh = self._mj = 0
        self.anchored = False
        self.floor = self.at_hour = None

    def add(self, mj):
        mj += self._mj
        self.wh += mj // _MJ_PER_WH
        self._mj = mj % _MJ_PER_WH

    def anchor(self, wh):
        self.wh = wh
        self._mj = 0
        self.anchored = True

    def shown(self):
        """The value to publish now: never below one published before."""
        if self.floor is not None and self.floor > self.wh:
            return self.floor
        return self.wh


class Energy:
    """Feeds on readings; says when live values and the capacity figures are due."""

    def __init__(self, capacity=None, log=None):
        """capacity: (model, step limits text, file) of the capacity tariff, or None.
        capacity.py is loaded only while it works (at each hour's end, and for the
        figures once a minute): its state lives in its file, so between those moments
        it costs no RAM (3.5 KB on the ESP32-like VM, where a status-page visit needs
        the room)."""
        self.clock = MeterTime()
        self.regs = (
            Register(_IMP, _IMP_TOTAL, b"active_power_import_total_live"),
            Register(_EXP, _EXP_TOTAL, b"active_power_export_total_live"),
        )
        self.capacity = capacity
        self.log = log
        self.repeated = 0  # list 3 frames that repeated the hour before (Aidon)
        self.estimated = 0  # hours closed with the live estimate (after a repeat)
        self.saves = 0  # capacity writes to flash
        #: True while a status-page visit is served: capacity.py (3 KB loaded, 6 KB
        #: while it works) waits, so the visit and the readings have the room.
        self.busy = False
        self._ends = []  # hour ends not yet taken into capacity.py
        self.resumed = False  # the broker's retained live values have been looked for
        self._t = None  # ticks of the last power reading
        self._gap = 2500  # ms between the last two power readings
        self._hour = None  # meter hour (seconds // 3600) of the last power reading
        self._ended = None  # the meter hour whose end has been published
        self._last3 = None  # (hour start s, import Wh) of the last list 3
        self._meter = None  # the meter id of the readings
        self._pub_t = None  # ticks of the last live publication
        self._cap_t = None  # ticks of the last capacity publication
        self.live_due = False
        self.capacity_due = False
        self._end_wh = None  # extrapolated values for the hour-end publication

    # -- from the decoder ------------------------------------------------------

    def on_reading(self, rd, now):
        """Take a reading (before it is published). A repeated list 3 is turned into
        a list 2 here: its registers and clock are withheld."""
        has = rd.has
        if has[fields.METER_ID] and rd.text[fields.METER_ID] != self._meter:
            if self._meter is not None:  # a new meter: its registers start anew
                self._log("I", "live energy: another meter, its registers start anew")
                for reg in self.regs:
                    reg.forget()
                self._last3 = None
            self._meter = rd.text[fields.METER_ID]
        repeated = rd.list_no == 3 and has[_IMP_TOTAL] and self._repeats(rd)
        if repeated:
            self.repeated += 1
            has[_CLOCK] = 0
            for fid in range(_IMP_TOTAL, _IMP_TOTAL + 4):  # the four energy registers
                has[fid] = 0
            rd.list_no = 2
            self._log("W", "meter sent the list 3 of the hour before again: not a new hour")
        if has[_CLOCK]:
            s = clock_s(rd.clock)
            if rd.list_no == 3:  # the clock may be the hour's, not the send time
                self.clock.see(s - s % 3600 + LIST3_AT_S, now, 120)
            else:
                self.clock.see(s, now, 2)
        if has[_IMP]:
            self._integrate(rd, now)
        if repeated:
            self._close_estimated(now)
        elif rd.list_no == 3 and has[_IMP_TOTAL]:
            self._anchor(rd, now)

    def _repeats(self, rd):
        """The list 3 of the hour before again: the same hour and the same register."""
        if not rd.has[_CLOCK] or self._last3 is None:
            return False
        s = clock_s(rd.clock)
        return s - s % 3600 == self._last3[0] and rd.energy_wh(_IMP_TOTAL) == self._last3[1]

    def _integrate(self, rd, now):
        gap = None if self._t is None else time.ticks_diff(now, self._t)
        self._t = now
        if gap is not None and gap > 0:
            self._gap = gap
        if not self.clock.known():
            hour = None
            into = 0
        else:
            s, ms = self.clock.now_s(now)
            hour = s // 3600
            into = (s % 3600) * 1000 + ms  # ms into the meter's hour
        crossed = hour is not None and self._hour is not None and hour != self._hour
        for reg in self.regs:
            # a list without this power (Aidon's list 1 has no export): the last one holds
            w = _watts(rd, reg.power_id) if rd.has[reg.power_id] else (reg.w or 0)
            if gap is not None and 0 < gap <= GAP_MS and reg.w is not None:
                mean = reg.w + w  # twice the mean power over the gap (trapezoid)
                if crossed and into < gap:  # the hour ended inside this gap
                    reg.add(mean * (gap - into) // 2)
                    reg.at_hour = reg.wh
                    reg.add(mean * into // 2)
                else:
                    reg.add(mean * gap // 2)
            elif crossed:
                reg.at_hour = reg.wh
            reg.w = w
        if crossed:
            self.capacity_due = True
        self._hour = hour
        # Due: every EVERY_MS, and just before the hour ends (the seconds left at the
        # present power, so the state in force at the hour's end holds the hour).
        last = self._pub_t
        if hour is not None and self._ended != hour and 3600000 - into <= self._gap * 3 // 2 + 500:
            self._ended = hour
            left = 3600000 - into
            self._end_wh = [r.wh + (r.w * left + r._mj) // _MJ_PER_WH for r in self.regs]
            self.live_due = True
        elif last is None or time.ticks_diff(now, last) >= EVERY_MS:
            self.live_due = True
        if self._cap_t is None or time.ticks_diff(now, self._cap_t) >= AT_LEAST_MS:
            self.capacity_due = True

    def _anchor(self, rd, now):
        s = clock_s(rd.clock) if rd.has[_CLOCK] else None
        if s is None and self.clock.known():
            s = self.clock.now_s(now)[0]
        start = None if s is None else s - s % 3600
        for reg in self.regs:
            if not rd.has[reg.total_id]:
                continue
            r = rd.energy_wh(reg.total_id)
            since = 0  # what was drawn since the hour the register is of
            if start is not None and self._hour is not None and self._hour * 3600 == start:
                if reg.at_hour is not None:
                    since = max(0, reg.wh - reg.at_hour)
                else:  # the hour began before the clock was known: at the last power
                    t, ms = self.clock.now_s(now)
                    since = (reg.w or 0) * ((t - start) * 1000 + ms) // _MJ_PER_WH
            if reg.floor is not None and reg.floor > r + since + RESUME_SLACK_WH:
                self._log("W", "live %s: %s kWh before the start is not this meter's",
                          reg.name.decode(), kwh_text(reg.floor))
                reg.floor = None
            reg.anchor(r + since)
            reg.at_hour = r
        imp = rd.energy_wh(_IMP_TOTAL)
        if start is not None:
            self._last3 = (start, imp)
            self._hour_ends(start, imp, rd.text[fields.METER_ID] if rd.has[fields.METER_ID] else None)
        self.live_due = True
        self.capacity_due = True

    def _close_estimated(self, now):
        """A repeated list 3: the hour that ended is closed with the live estimate."""
        imp = self.regs[0]
        if self.capacity is None or not self.clock.known() or not imp.anchored or imp.at_hour is None:
            return
        s = self.clock.now_s(now)[0]
        start = s - s % 3600
        if self._hour is None or self._hour * 3600 != start:
            return  # the boundary was not crossed under power readings: nothing to go on
        self._hour_ends(start, imp.at_hour, None, True)
        self.capacity_due = True

    # -- after a restart: the values published before it ---------------------

    def on_retained(self, topic, msg):
        """A live value the broker kept (our own, published before a restart). Once
        resumed, what comes is the echo of our own publications: nothing new."""
        if self.resumed:
            return
        for reg in self.regs:
            if topic.endswith(reg.name):
                wh = kwh_value(msg)
                if wh is None:
                    return
                if reg.floor is None or wh > reg.floor:
                    reg.floor = wh
                if not reg.anchored:  # no register yet since the start: go on from there
                    reg.anchor(wh)
                    reg.at_hour = None

    # -- to the publisher ------------------------------------------------------

    def live(self, now):
        """[(topic name, kWh text)] due now (and taken as published), or None. Only
        once the retained values were looked for (resumed), so that nothing published
        after a restart is below what was published before it."""
        if not self.live_due or not self.resumed:
            return None
        self.live_due = False
        self._pub_t = now
        out = []
        end = self._end_wh
        self._end_wh = None
        for i in range(2):
            reg = self.regs[i]
            if not reg.anchored:
                continue
            v = reg.shown()
            if end is not None and end[i] > v:
                v = end[i]
            out.append((reg, v))
        return out

    def published(self, reg, wh):
        if reg.floor is None or wh > reg.floor:
            reg.floor = wh

    def _open_capacity(self):
        from capacity import Capacity

        return Capacity(self.capacity[0], self.capacity[1], self.capacity[2], self.log)

    def _hour_ends(self, start, wh, meter, estimated=False):
        """An hour's end for the capacity tariff: queued, and taken into capacity.py
        by settle() when the heap is not busy (a status-page visit)."""
        if self.capacity is None:
            return
        ends = self._ends
        if len(ends) >= _ENDS_KEPT:  # never while the loop runs; bounded anyway
            ends.pop(0)
        ends.append((start, wh, meter, estimated))

    def settle(self):
        """Take the queued hour ends into capacity.py (loaded for it, then dropped)."""
        if not self._ends or self.busy:
            return
        try:
            c = self._open_capacity()
            while self._ends:
                start, wh, meter, estimated = self._ends[0]
                c.hour_ends(start, wh, meter)
                self._ends.pop(0)
                self.estimated += estimated
            self.saves += c.saves
        except MemoryError:  # the next turn
            pass
        finally:
            sys.modules.pop("capacity", None)

    def capacity_json(self, now):
        """The capacity figures if due (DESIGN.md 5), else None; none while busy."""
        self.settle()
        if self.capacity is None or not self.capacity_due or not self.clock.known() or self.busy:
            return None
        imp = self.regs[0]
        s, ms = self.clock.now_s(now)
        try:
            js = self._open_capacity().to_json(s, ms, imp.shown() if imp.anchored else None, imp.w or 0)
        except MemoryError:
            return None  # a page being served: the next turn
        finally:
            sys.modules.pop("capacity", None)
        self.capacity_due = False
        self._cap_t = now
        return js

    def _log(self, level, msg, *args):
        if self.log:
            self.log(level, msg, *args)
