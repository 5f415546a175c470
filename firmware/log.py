# log.py: a tiny logger: console lines, and the last ones kept for the status page;
# and the uptime clock its lines are stamped with.
# MIT license; Copyright (c) 2026 hanmq
#
# Arguments are formatted only when a line is printed. Recent lines live in one fixed
# buffer (not as separate strings scattered over the heap). Never pass a secret.

import time

LEVELS = "DIWE"  # debug, info, warning, error


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



class Log:
    def __init__(self, level="I", keep=1024):
        self.min = LEVELS.find(level)
        self.clock = Uptime(time.ticks_ms())  # lines say seconds since start (the loop
        # ticks it every turn: dongle.py, portal/setup.py)
        self._ring = bytearray(keep)  # recent lines, "\n"-separated, oldest overwritten
        self._at = 0

    def __call__(self, level, msg, *args):
        if LEVELS.find(level) < self.min:
            return
        if args:
            msg = msg % args
        line = "%d %s: %s" % (self.clock.tick(time.ticks_ms()), level, msg)
        print("[hanmq]", line)
        ring = self._ring
        n = len(ring)
        for b in line.encode()[: n // 4]:
            ring[self._at] = b if 32 <= b < 127 else 63  # "?": the ring stays ASCII
            self._at = (self._at + 1) % n
        ring[self._at] = 10
        self._at = (self._at + 1) % n

    def recent(self):
        """The kept lines, oldest first, as bytes, one at a time (no copy of the ring:
        a status-page visit has no room for one). The oldest may be cut: it is left out."""
        r = self._ring
        n = len(r)
        at = self._at
        start = -1 if r[at] else 0  # wrapped: the first line was partly overwritten
        for k in range(n):
            c = r[(at + k) % n]
            if c == 0:
                start = k + 1  # not yet written
            elif c == 10:
                if start >= 0 and k > start:
                    a = (at + start) % n
                    b = (at + k) % n
                    yield bytes(r[a:b]) if a < b else bytes(r[a:]) + bytes(r[:b])
                start = k + 1