# boot_ram.py: the firmware's RAM after boot with precompiled .mpy versus .py sources.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/boot_ram.py [--heap 96k]
#
# Runs the firmware's imports under the MicroPython unix port, the way tools/simulate.py
# does (MICROPYPATH=tools/sim:<tree>:.frozen, tools/sim standing in for the hardware
# seam), at -X heapsize=96k (the ESP32's budget): main.py's `import app` (hw, board, the
# decoder, log), the settings validator that app.load_config() imports and drops, and
# the modules Dongle() imports (ha, meter_uart, mqtt_link with umqtt.simple and backoff,
# publisher with outbox, wifi). Then gc.collect() and gc.mem_alloc()/gc.mem_free().
# Trees: ".mpy" is tools/build.py's output for the host (bench/out/boot_ram/), ".py" the
# firmware/ sources plus build/lib/umqtt/simple.py. Each run checks that every firmware
# module came from the tree meant (its __file__).
# Also: the smallest heap at which the same imports succeed (every size from 40 KB to
# 160 KB in 1 KB steps), which shows the compiler's peak when importing source.
# The unix port is 64-bit: objects are about twice their ESP32 size (bench/README.md).

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build  # noqa: E402

MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(ROOT, ".venv", "bin", "micropython"))

BOOT = """
import gc, sys
gc.collect()
start = gc.mem_alloc()
import app
import dongle
import config
del sys.modules['config']
from ha import Discovery
from meter_uart import MeterUART
from mqtt_link import MQTTLink
from publisher import Publisher
from wifi import WiFi
gc.collect()
alloc = gc.mem_alloc()
free = gc.mem_free()
kinds = {}
for name in sorted(sys.modules):
    f = getattr(sys.modules[name], '__file__', '')
    if f and not f.startswith('tools/sim') and '/sim/' not in f:
        kinds[f.rsplit('.', 1)[-1]] = kinds.get(f.rsplit('.', 1)[-1], 0) + 1
print(start, alloc, free, kinds.get('mpy', 0), kinds.get('py', 0))
"""


def trees():
    mpy = os.path.join(HERE, "out", "boot_ram")
    build.build(mpy, None, log=None)
    sim = os.path.join(ROOT, "tools", "sim")
    return {
        ".mpy": ":".join([sim, mpy, ".frozen"]),
        ".py": ":".join([sim, os.path.join(ROOT, "firmware"), os.path.join(ROOT, "build", "lib"),
                         ".frozen"]),
    }


def boot(path, heap):
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap, "-c", BOOT],
                       env=dict(os.environ, MICROPYPATH=path), capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    if r.returncode:
        return None, (r.stderr or r.stdout).strip().splitlines()[-1:]
    return [int(x) for x in r.stdout.split()], None


def smallest(path, lo=40, hi=160):
    """(smallest heap in KB at which the imports succeed, smallest from which every
    larger size up to `hi` succeeds): fragmentation can make "fits" non-monotonic."""
    ok = [boot(path, "%dk" % k)[0] is not None for k in range(lo, hi + 1)]
    if not any(ok):
        return None, None
    first = lo + ok.index(True)
    steady = hi
    while steady > lo and ok[steady - 1 - lo]:
        steady -= 1
    return first, steady if ok[-1] else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="RAM after boot, .mpy versus .py (unix port).")
    ap.add_argument("--heap", default="96k")
    ap.add_argument("--big", default="512k", help="heap for a second look when --heap fails")
    a = ap.parse_args(argv)
    version = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True).stdout.strip()
    print("# %s, unix port (64-bit)" % version)
    print("| firmware as | heap | boots | live heap after boot (B) | of which the imports (B) "
          "| free (B) | modules .mpy/.py |")
    print("|---|---|---|---:|---:|---:|---|")
    rows = {}
    for kind, path in trees().items():
        for heap in (a.heap, a.big):
            got, err = boot(path, heap)
            if got is None:
                print("| %s | %s | no: %s | | | | |" % (kind, heap, " ".join(err)))
                continue
            start, alloc, free, n_mpy, n_py = got
            rows.setdefault(kind, got)
            print("| %s | %s | yes | %s | %s | %s | %d/%d |" % (
                kind, heap, format(alloc, ","), format(alloc - start, ","), format(free, ","),
                n_mpy, n_py))
            break
    for kind, path in trees().items():
        first, steady = smallest(path)
        print("# %s: smallest heap that boots: %s KB; every size from %s KB to 160 KB boots"
              % (kind, first, steady))
    if len(rows) == 2:
        d = rows[".py"][1] - rows[".mpy"][1]
        print("# live heap after boot, .py minus .mpy: %s B" % format(d, ","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
