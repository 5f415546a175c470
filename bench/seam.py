# seam.py: what the simulated board's seam costs in the MicroPython heap, against what
# the board's own hw.py costs there: the difference is heap a board does not spend, so
# tools/simulate.py gives the firmware that much more (simulate.SEAM_EXTRA).
# MIT license; Copyright (c) 2026 hanmq
#
#   .venv/bin/python bench/seam.py [--micropython PATH]
#
# Both runs build the dongle as app.main() does (settings loaded and dropped, Dongle()
# with its status page, the loop turned until it is connected to a real broker and has
# announced itself, at least 4 s) in the same VM (default: the one
# tools/simulate.py runs) and print the live heap after a collection: once over the
# simulated board (tools/sim: hw, time, socket, with the host's UART and control
# connections), once over firmware/hw.py with stand-ins for machine, network and board
# that hold no more than the real ones' Python-visible state. The two differ by more
# than the seam's own modules: its names push the interned-string pools over a size at
# which they double, which is why the whole steady state is measured.

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build  # noqa: E402
import simulate  # noqa: E402

STEADY = """
import gc, time
import board
gc.collect()
a = gc.mem_alloc()
import app, dongle, log
from han.decoder import Decoder
cfg, problem = app.load_config()
d = dongle.Dongle(cfg, log.Log(), Decoder(buf=app._FRAME_BUF), app.CONFIG_PATH)
t = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t) < 4000 or d.pub.pending():
    d.step(time.ticks_ms())
    time.sleep_ms(10)
gc.collect()
print(gc.mem_alloc() - a, d.link.state)
"""

STUBS = {
    "machine.py": (
        "class UART:\n    INV_RX = 1\n    def __init__(self, *a, **k):\n        pass\n"
        "    def any(self):\n        return 0\n    def readinto(self, b):\n        return None\n"
        "class Pin:\n    IN = OUT = PULL_UP = 0\n    def __init__(self, *a):\n        pass\n"
        "    def value(self, v=None):\n        return 1\n"
        "class WDT:\n    def __init__(self, timeout=0):\n        pass\n    def feed(self):\n"
        "        pass\ndef unique_id():\n    return b'\\xa1\\xb2\\xc3'\n"),
    "network.py": (
        "AUTH_OPEN = 0\nclass WLAN:\n    IF_STA = 0\n    IF_AP = 1\n"
        "    def __init__(self, i):\n        pass\n    def active(self, on=None):\n"
        "        return True\n    def isconnected(self):\n        return True\n"
        "    def connect(self, s, p):\n        pass\n    def status(self, w=None):\n"
        "        return -60\ndef hostname(n):\n    pass\n"),
}


def _listener():
    """A TCP server that takes connections and holds them (the host's half)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held = []

    def run():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]


def _run(exe, path, cwd, env=()):
    env = dict(os.environ, MICROPYPATH=path, **dict(env))
    out = subprocess.run([exe, "-X", "heapsize=256k", "-c", STEADY], capture_output=True,
                         text=True, env=env, cwd=cwd, timeout=60)
    try:
        live, state = out.stdout.split()[-2:]
        assert state == "connected", out.stdout
        return int(live)
    except (IndexError, ValueError):
        raise SystemExit("seam.py: the run failed:\n" + out.stdout + out.stderr) from None


def measure(exe):
    """(live heap over the simulated board's seam, over the board's own), bytes."""
    cwd = tempfile.mkdtemp(prefix="hanmq-seam-")
    broker = simulate.brokers.Broker().start()
    with open(os.path.join(cwd, "config.json"), "w") as f:
        json.dump(simulate.dongle_config(broker.host, broker.port, **json.loads(os.environ.get("SEAM_CONFIG", "{}"))), f)
    seam, firmware = simulate.module_path().split(":")[:2]
    sim = _run(exe, seam + ":" + firmware, cwd, {
        "HANMQ_UART": "127.0.0.1:%d" % _listener(), "HANMQ_CTL": "127.0.0.1:%d" % _listener(),
        "HANMQ_HTTP_PORT": str(_listener()), "HANMQ_PORT_MAP": ""})
    stubs = os.path.join(cwd, "stubs")
    os.makedirs(stubs)
    for name, text in STUBS.items():
        with open(os.path.join(stubs, name), "w") as f:
            f.write(text)
    build.compile_one(os.path.join(ROOT, "boards", "esp32_devkit.py"),
                      os.path.join(stubs, "board.mpy"))
    build.compile_one(os.path.join(ROOT, "firmware", "hw.py"), os.path.join(stubs, "hw.mpy"))
    board = _run(exe, stubs + ":" + firmware, cwd)  # (its status page binds port 80: root)
    broker.close()
    return sim, board


def main(argv=None):
    ap = argparse.ArgumentParser(description="The simulated board's seam against a board's.")
    ap.add_argument("--micropython", help="default: the simulator's (simulate.micropython())")
    a = ap.parse_args(argv)
    exe = simulate.micropython(a.micropython)
    sim, board = measure(exe)
    print("VM %s (%s-bit); steady state of normal operation, status page on" % (
        exe, 32 if simulate.is_32bit(exe) else 64))
    print("live heap over the simulated board (tools/sim)  : %6d bytes" % sim)
    print("live heap over the board's own hw.py            : %6d bytes" % board)
    print("difference                                      : %6d bytes" % (sim - board))
    print("heap the simulator adds (simulate.SEAM_EXTRA)    : %6d bytes" % simulate.seam_extra(exe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
