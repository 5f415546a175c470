# backoff.py: exponential backoff with a cap and +-20 % jitter, for reconnect loops.
# MIT license; Copyright (c) 2026 hanmq
#
# Pure: the caller passes now_ms (time.ticks_ms() on the board) and times are compared
# with ticks_diff semantics only, so the tick counter may wrap. Tests pass their own
# clock values, diff and rand.
#
#   b = Backoff()
#   if b.due(now): try to connect ...
#       on success: b.up(now)
#       on failure: delay_ms = b.fail(now)
#   on losing an established link: b.fail(now) (resets to first_ms first if the link
#       stayed up at least stable_ms, so a flapping link keeps backing off)

try:
    from time import ticks_diff as _ticks_diff
except ImportError:  # CPython: plain integers, no wrap

    def _ticks_diff(a, b):
        return a - b


def _rand16():
    from random import getrandbits

    return getrandbits(16)


class Backoff:
    def __init__(self, first_ms=1000, cap_ms=60000, stable_ms=30000, diff=None, rand=None):
        self.first_ms = first_ms
        self.cap_ms = cap_ms
        self.stable_ms = stable_ms
        self._diff = diff or _ticks_diff
        self._rand = rand or _rand16  # () -> int in [0, 65535]
        self._step = first_ms  # next delay before jitter
        self._since = None  # when the last failure (or up) happened
        self._wait = 0  # ms to wait after _since; 0: due now
        self._up = False
        self._stable = False  # up at least stable_ms
        self.failures = 0  # consecutive failures
        self.delay_ms = 0  # the delay last chosen

    def due(self, now_ms):
        """True when the next attempt may be made. A negative difference means the
        last failure is more than 2^29 ms (6.2 days on an ESP32) ago: due too. (After
        more than 2^30 ms without a look, at most one more wait, at most cap_ms.)"""
        if self._since is None:
            return True
        d = self._diff(now_ms, self._since)
        return d < 0 or d >= self._wait

    def up(self, now_ms):
        """The link came up: remember when, to judge later whether it was stable."""
        self._up = True
        self._stable = False
        self._since = now_ms
        self._wait = 0
        self.failures = 0

    def still_up(self, now_ms):
        """Call while the link is up (every turn is fine): once it has been up stable_ms
        that is remembered, however long it stays up after (ticks wrap)."""
        if self._up and not self._stable and self._diff(now_ms, self._since) >= self.stable_ms:
            self._stable = True

    def fail(self, now_ms, floor_ms=0):
        """An attempt failed, or the link went down. Returns the delay (ms) before the
        next attempt: the current step with +-20 % jitter, at least floor_ms."""
        if self._up:
            self.still_up(now_ms)
            self._up = False
            if self._stable:
                self._step = self.first_ms  # it had been up long enough: start over
        d = self._step
        self._step = min(d * 2, self.cap_ms)
        j = d // 5  # 20 %
        d = d - j + ((2 * j * self._rand()) >> 16)
        if d < floor_ms:
            d = floor_ms
        self.failures += 1
        self._since = now_ms
        self._wait = self.delay_ms = d
        return d

    def reset(self):
        """Forget the history: the next attempt is due at once, with the first step."""
        self._step = self.first_ms
        self._since = None
        self._wait = 0
        self._up = False
        self.failures = 0
