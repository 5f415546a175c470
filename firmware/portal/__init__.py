# portal/__init__.py: setup mode (access point, catch-all DNS, setup page) and the
# HTTP server the status page shares.
# MIT license; Copyright (c) 2026 hanmq
#
# Nothing is imported here: `import portal.http` (the status page) must not load the
# setup modules. They are loaded by run() and dropped from RAM when it returns.

import gc
import sys

#: What the flag file next to the settings (app.setup_asked) asks of a start, and why,
#: for the log.
SETUP_WHY = {
    "lan": "settings asked for",  # the status page's "Change settings": on the home network
    "ap": "setup button pressed",  # the access point, no password: the person is at the board
    "wifi": "the home network could not be joined",  # the access point, behind the password
}


def start(log, path, cfg, problem, mode, frame_buf):
    """Setup mode (no usable settings: problem says why; or `mode` asked for). The
    meter is read meanwhile, so the page can show that the cable works; nothing is
    published. Returns 0 once the dongle should start again (settings saved, or the
    home network joined again)."""
    log("W", "setup mode: %s", problem or SETUP_WHY[mode])
    from han.decoder import Decoder
    from meter_uart import MeterUART

    meter = MeterUART(Decoder(buf=frame_buf), cfg["meter"] if cfg else "auto", log)
    return run(log, path, meter, mode)


def unload(*names):
    """Drop modules (and their attribute on this package) so their memory can go."""
    pkg = sys.modules.get("portal")
    for name in names:
        sys.modules.pop(name, None)
        short = name[7:] if name.startswith("portal.") else None
        if pkg is not None and short and hasattr(pkg, short):
            delattr(pkg, short)
    gc.collect()


#: The setup server's connection buffers: 3 at once, each holding a request head of
#: up to 1.25 KB, then its form body (at most 1 KB: http.BODY_MAX). A phone's form
#: post has a head of about 600 bytes.
SETUP_BUFS = 3
SETUP_BUF = 1280


def run(log, path, meter=None, mode="ap"):
    """Setup mode: returns 0 once the dongle should start again (settings saved to
    path, or its network joined again). meter: the MeterUART, read meanwhile so the
    page can show what the meter sends; mode: a SETUP_WHY key."""
    gc.collect()
    bufs = [bytearray(SETUP_BUF) for _ in range(SETUP_BUFS)]  # before the imports
    from portal import setup

    try:
        return setup.run(log, path, bufs, meter, mode)
    finally:
        unload("portal.setup", "portal.dns", "portal.http", "portal.pages", "portal.form",
               "config", "portal")
