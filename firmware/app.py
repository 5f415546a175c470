# app.py: start-up: read the settings, then run the dongle (dongle.py) or, without
# usable settings or when asked, setup mode (portal/). The meter is read in both.
# MIT license; Copyright (c) 2026 hanmq

import gc
import time

# Large buffers first, before imports fragment the heap (MicroPython docs,
# "Constrained environments").
_FRAME_BUF = bytearray(1024)

import hw  # noqa: E402
from han.decoder import Decoder  # noqa: E402
from log import Log  # noqa: E402

watchdog = None  # the running machine.WDT, once started (main.py keeps it fed after Ctrl-C)
CONFIG_PATH = "config.json"

#: The watchdog resets the board when the loop stops: it is fed once a turn.
WATCHDOG_MS = 60000
#: Bytes allocated between two collections in normal operation (bench/README.md).
GC_EVERY = 8192

def setup_asked():
    """What the flag file next to the settings asks of this start (a key of
    portal.SETUP_WHY), or None. The status page, the setup button and a network that
    cannot be joined leave it and restart; the setup portal removes it."""
    try:
        with open(CONFIG_PATH + ".setup") as f:
            mode = f.read().strip()
    except OSError:
        return None
    return mode if mode in ("ap", "wifi") else "lan"


def ask_setup(mode):
    """Start again in setup mode (a key of portal.SETUP_WHY)."""
    with open(CONFIG_PATH + ".setup", "w") as f:
        f.write(mode)
    hw.reset()


def load_config():
    """The validated settings, or (None, why). The validator is needed only now:
    it is dropped from RAM once the settings are read (about 7 KB)."""
    import sys

    import config

    cfg, problem = config.load(CONFIG_PATH)
    del sys.modules["config"]
    gc.collect()
    return cfg, problem


def main():
    log = Log()
    cfg, problem = load_config()
    mode = setup_asked() if cfg is not None else "ap"
    if mode:
        # no usable settings, or settings asked for: the setup page (portal/)
        try:
            import portal
        except ImportError:
            log("W", "setup page not installed: write config.json and restart")
            return 3
        if portal.start(log, CONFIG_PATH, cfg, problem, mode, _FRAME_BUF) == 0:
            # Saved: start afresh with the new settings. Going on in this heap does not
            # fit 96 KB: the setup modules' names stay interned and the heap is in pieces.
            hw.reset()
        return 3
    from dongle import Dongle

    dongle = Dongle(cfg, log, Decoder(buf=_FRAME_BUF), CONFIG_PATH)
    gc.collect()
    # Collect after every GC_EVERY bytes allocated, rather than when the heap runs out:
    # garbage freed early leaves larger holes (MicroPython docs, "Control of garbage
    # collection"). gc.threshold() counts bytes allocated since the last collection.
    gc.threshold(GC_EVERY)
    global watchdog
    watchdog = wdt = hw.watchdog(WATCHDOG_MS) if cfg["watchdog"] else None
    while True:
        now = time.ticks_ms()
        try:
            busy = dongle.step(now)
        except MemoryError:  # the last line of defence: the loop (and the meter) go on
            gc.collect()
            log("W", "heap full: turn skipped")
            busy = True
        if wdt is not None:
            wdt.feed()  # the loop turned: a silent meter is no reason to reset
        if dongle.setup_wanted:
            ask_setup(dongle.setup_wanted)
        if not busy:
            if dongle.idle():
                break
            time.sleep_ms(10)
    dongle.finish()
    print("hanmq:", dongle.summary())
    return 0
