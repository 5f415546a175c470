# time.py (host): the simulated board's clock, over MicroPython's built-in time.
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. tools/simulate.py runs the
# firmware with this directory first on MICROPYPATH, so `import time` finds this module
# (time is an extensible built-in: MicroPython docs, "Extending built-in libraries").
#
# What a board's clock does that the host's does not (DESIGN.md 9):
# - ticks_ms() wraps every 2^30 ms and ticks_diff() spans +-2^29 ms, on any binary
#   (the 64-bit unix port's own period is 2^62);
# - the tick counter starts where HANMQ_TICKS_START says (to cross the wrap early);
# - the clock runs HANMQ_SPEED times faster than the host's, sleeps as much shorter,
#   so a run at speed X is the board's experience compressed. One look at the clock
#   advances it by at most CAP ms: a host that stalls the process is not the board's
#   time passing (it would trip the watchdog at a high speed);
# - the watchdog (hw.watchdog) is checked against this clock at every look, as the
#   board's hardware timer counts: not fed in time, the board resets.

import sys

_p = sys.path
sys.path = ()
try:
    import time as _t  # the built-in
finally:
    sys.path = _p
del _p


def __getattr__(name):
    return getattr(_t, name)  # what this module does not change: the built-in's

from micropython import const  # noqa: E402

_PERIOD = const(1 << 30)
_MASK = const((1 << 30) - 1)
_HALF = const(1 << 29)
CAP = const(15000)


def _ratio(text):
    # "5" -> (5, 1), "0.25" -> (25, 100): integer arithmetic only (float32 on a board VM)
    whole, _, frac = (text or "1").partition(".")
    den = 10 ** len(frac)
    return int(whole or "0") * den + int(frac or "0"), den


def _env(name):
    import os

    return os.getenv(name)


def set_speed(text):
    """The clock's speed from now on ("20000", "1", "0.5")."""
    global _num, _den, _den_us, _acc
    ticks_ms()
    _num, _den = _ratio(text)
    _den_us = _den * 1000
    _acc = 0


_num, _den = _ratio(_env("HANMQ_SPEED"))
_den_us = _den * 1000
_board = int(_env("HANMQ_TICKS_START") or "0") & _MASK
_last = _t.ticks_us()
_acc = 0
wdt_ms = 0  # the watchdog's timeout once started (hw.watchdog), 0: none
fed = 0  # board ticks of the last feed
bark = None  # called once the watchdog has expired (hw: the board resets)


def ticks_ms():
    global _board, _last, _acc
    r = _t.ticks_us()
    d = _t.ticks_diff(r, _last)
    if d > 0:
        _last = r
        _acc += d * _num
        q = _acc // _den_us
        if q:
            _acc -= q * _den_us
            _board = (_board + (q if q < CAP else CAP)) & _MASK
            if wdt_ms and ticks_diff(_board, fed) > wdt_ms and bark:
                bark()
    return _board


def ticks_add(t, delta):
    return (t + delta) & _MASK


def ticks_diff(a, b):
    return ((a - b + _HALF) & _MASK) - _HALF


def ticks_us():
    return (ticks_ms() * 1000) & _MASK


ticks_cpu = ticks_us


def sleep_ms(ms):
    if ms > 0:
        _t.sleep_us(ms * _den_us // _num)
    ticks_ms()


def sleep_us(us):
    if us > 0:
        _t.sleep_us(us * _den // _num)
    ticks_ms()


def sleep(s):
    sleep_ms(int(s * 1000))


def real_sleep(ms):
    """Sleep `ms` of board time without looking at the clock (safe in a thread)."""
    _t.sleep_us(ms * _den_us // _num)
