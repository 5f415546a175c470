# uptime.py: seconds since start, right for years.
# MIT license; Copyright (c) 2026 hanmq

import time


class Uptime:
    """Seconds since start, right for years: ticks_ms() wraps every 2^30 ms on an ESP32
    and ticks_diff() spans only +-2^29 ms (6.2 days), so the seconds are counted up
    from the ticks of each turn instead of taken as one difference."""

    def __init__(self, now):
        self.s = 0
        self._ms = 0
        self._last = now

    def tick(self, now):
        self._ms += time.ticks_diff(now, self._last)
        self._last = now
        if self._ms >= 1000:
            q = self._ms // 1000
            self.s += q
            self._ms -= q * 1000
        return self.s
