# capacity.py: the Norwegian capacity tariff (kapasitetsledd), DESIGN.md section 5.
# MIT license; Copyright (c) 2026 hanmq
#
# The grid company sets each month's capacity step from the mean of the three highest
# daily maximum hourly energies of the month, each from a different day (model
# "top3_daily"), or from the month's single highest hour ("max_hour"). An hour's
# energy is the difference of the import registers at its start and end (list 3 of
# hh:00 and hh+1:00, on the meter's clock). Only the three best days can matter (a
# day's maximum only grows while the day lasts, and a day once passed never comes
# back), so three (day, hour, Wh) entries hold the whole month; the highest of them
# is also the month's highest hour, so both models share them.
#
# Kept on flash (capacity.json, written to a temporary file and renamed) at most once
# an hour: when an hour ends. Energies are integer Wh; kWh per hour is kW.

import json
import os

from energy import date, days, kwh_text

_KEEP = 3
_HOUR = 3600


def _month(start):
    y, m, _ = date(start // 86400)
    return "%04d-%02d" % (y, m)


class Capacity:
    def __init__(self, model, limits_kw, path=None, log=None):
        self.model = model  # "top3_daily" or "max_hour"
        self.limits_text = limits_kw  # as configured: "2,5,10,..."
        self.limits_wh = [int(float(x) * 1000 + 0.5) for x in limits_kw.split(",")]
        self.path = path
        self.log = log
        self.month = None  # "YYYY-MM" of the peaks
        self.peaks = []  # [day (since 2000-01-01), hour, Wh], highest first, days distinct
        self.start = None  # the current hour's start, seconds since 2000-01-01 ...
        self.start_wh = None  # ... and the import register then
        self.meter = None  # the meter id the registers are from
        self.saves = 0  # writes to flash (at most one an hour)
        self._load()

    # -- hours ----------------------------------------------------------------

    def hour_ends(self, boundary, wh, meter=None):
        """The import register was `wh` at `boundary` (seconds since 2000-01-01, on an
        hour): the hour(s) since the last boundary are closed."""
        if meter is not None and meter != self.meter:
            if self.meter is not None:
                self.start = None  # another meter: its register starts anew
            self.meter = meter
        if self.start is not None and boundary > self.start and wh >= self.start_wh:
            hours = (boundary - self.start) // _HOUR
            # More than one hour (the dongle was off): the energy is shared out evenly,
            # the only fair guess.
            share = (wh - self.start_wh) // hours
            for i in range(hours):
                self._add(self.start + i * _HOUR, share)
        if self.start is None or boundary > self.start:
            self.start = boundary
            self.start_wh = wh
            self._save()

    def _add(self, start, wh):
        month = _month(start)
        if self.month is None or month > self.month:
            self.month = month
            self.peaks = []
        elif month < self.month:
            return  # an hour of a month already over
        day = start // 86400
        hour = (start % 86400) // _HOUR
        peaks = self.peaks
        for p in peaks:
            if p[0] == day:
                if wh > p[2]:
                    p[1] = hour
                    p[2] = wh
                break
        else:
            peaks.append([day, hour, wh])
        peaks.sort(key=lambda p: -p[2])
        del peaks[_KEEP:]

    # -- the figures ------------------------------------------------------------

    def _counted(self, peaks):
        return peaks[: 1 if self.model == "max_hour" else _KEEP]

    def _mean(self, peaks):
        used = self._counted(peaks)
        if not used:
            return 0
        return (sum(p[2] for p in used) + len(used) // 2) // len(used)

    def step(self, mean_wh):
        """The step (from 1): the first limit at least the mean."""
        for i in range(len(self.limits_wh)):
            if mean_wh <= self.limits_wh[i]:
                return i + 1
        return len(self.limits_wh) + 1

    def _with(self, day, wh):
        """The peaks if the current hour, on `day`, ended with `wh`."""
        peaks = [p[:] for p in self.peaks]
        for p in peaks:
            if p[0] == day:
                if wh > p[2]:
                    p[2] = wh
                break
        else:
            peaks.append([day, 0, wh])
        peaks.sort(key=lambda p: -p[2])
        return peaks

    def allowed_wh(self, day, step):
        """The most energy the current hour can take without a higher step; None at
        the top step."""
        if step > len(self.limits_wh):
            return None
        lo, hi = 0, 1 << 20  # 1 GWh: more than any installation draws in an hour
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.step(self._mean(self._with(day, mid))) <= step:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def to_json(self, now_s, now_ms, live_wh, power_w):
        """The capacity figures at meter time now_s (+ now_ms), as DESIGN.md 5 gives
        them. live_wh: the live import register (None before one is known)."""
        start = now_s - now_s % _HOUR
        month = _month(start)
        peaks = self.peaks if month == self.month else []  # a new month has none yet
        mean = self._mean(peaks)
        shown = self._counted(peaks)
        step = self.step(mean)
        left_ms = _HOUR * 1000 - (now_s % _HOUR) * 1000 - now_ms
        if left_ms < 1000:
            left_ms = 1000
        hour_wh = None
        if live_wh is not None and self.start == start and live_wh >= self.start_wh:
            hour_wh = live_wh - self.start_wh
        out = ['{"model": "%s", "month": "%s", "peaks": [' % (self.model, month)]
        for i in range(len(shown)):
            y, m, d = date(shown[i][0])
            out.append('%s{"date": "%04d-%02d-%02d", "hour": %d, "kwh": %s}' % (
                ", " if i else "", y, m, d, shown[i][1], kwh_text(shown[i][2])))
        out.append('], "average_kw": %s, "step": %d, "step_limits_kw": [%s]' % (
            kwh_text(mean), step, self.limits_text))
        if hour_wh is None:
            out.append(', "hour_kwh": null, "hour_estimate_kwh": null, "headroom_kw": null}')
            return "".join(out)
        guess = hour_wh + power_w * left_ms // 3600000
        allowed = self.allowed_wh(start // 86400, step)
        head = "null"
        if allowed is not None:
            # the mean power for the rest of the hour that keeps within `allowed`
            w = (allowed - hour_wh) * 3600000 // left_ms
            head = kwh_text(w if w > 0 else 0)
        out.append(', "hour_kwh": %s, "hour_estimate_kwh": %s, "headroom_kw": %s}' % (
            kwh_text(hour_wh), kwh_text(guess), head))
        return "".join(out)

    # -- flash ----------------------------------------------------------------

    def _save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"v": 1, "month": self.month, "peaks": self.peaks,
                           "start": self.start, "start_wh": self.start_wh,
                           "meter": self.meter}, f)
            os.rename(tmp, self.path)  # atomic on LittleFS: the old file or the new
            self.saves += 1
        except OSError as e:
            if self.log:
                self.log("W", "capacity: not saved: %s", e)

    def _load(self):
        if not self.path:
            return
        try:
            with open(self.path) as f:
                d = json.load(f)
            peaks = d["peaks"]
            for p in peaks:
                if len(p) != 3 or not all(isinstance(x, int) for x in p):
                    raise ValueError
            start, start_wh = d["start"], d["start_wh"]
            if (start is None) != (start_wh is None):
                raise ValueError
            self.month, self.peaks = d["month"], peaks[:_KEEP]
            self.start, self.start_wh, self.meter = start, start_wh, d.get("meter")
        except OSError:
            pass  # none yet
        except (ValueError, KeyError, TypeError):
            if self.log:
                self.log("W", "capacity: %s unreadable: starting the month anew", self.path)
