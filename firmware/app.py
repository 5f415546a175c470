# app.py: start-up: read the settings, then run the dongle (dongle.py) or, without
# usable settings, setup mode (portal/). The meter is read in both.
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

#: The watchdog resets the board when the loop stops (or the UART is wedged: see
#: dongle.SILENT_MS).
WATCHDOG_MS = 60000


def setup_mode(log, problem, cfg):
    """No usable settings, or settings asked for: the setup page (portal/). The meter
    is read meanwhile, so the page can show that the cable works; nothing is
    published. Returns 0 once settings were saved."""
    log("W", "setup mode: %s", problem)
    from meter_uart import MeterUART

    meter = MeterUART(Decoder(buf=_FRAME_BUF), cfg["meter"] if cfg else "auto", log)
    try:
        import portal
    except ImportError:
        log("W", "setup page not installed: write config.json and restart")
        return 3
    return portal.run(log, CONFIG_PATH, meter)


def settings_asked():
    """The status page's "change settings" leaves this file and restarts; the setup
    portal removes it."""
    import os

    try:
        os.stat(CONFIG_PATH + ".setup")
        return True
    except OSError:
        return False


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
    asked = cfg is not None and settings_asked()
    if cfg is None or asked or hw.button_held():
        why = problem or ("settings asked for" if asked else "button held at power-up")
        if setup_mode(log, why, cfg) == 0:
            # Saved: start afresh with the new settings. Going on in this heap does not
            # fit 96 KB: the setup modules' names stay interned and the heap is in pieces.
            hw.reset()
        return 3
    from dongle import Dongle

    dongle = Dongle(cfg, log, Decoder(buf=_FRAME_BUF), CONFIG_PATH)
    gc.collect()
    # Collect once a quarter of the free heap has been allocated, rather than when it
    # runs out: garbage freed early leaves larger holes (MicroPython docs, "Control of
    # garbage collection").
    gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
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
        if wdt is not None and dongle.healthy(now):
            wdt.feed()
        if not busy:
            if dongle.idle():
                break
            time.sleep_ms(10)
    dongle.finish()
    print("hanmq:", dongle.summary())
    return 0
