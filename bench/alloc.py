# alloc.py: heap bytes the decoder allocates per frame, in the MicroPython VM.
# MIT license; Copyright (c) 2026 hanmq
#
#   micropython -X heapsize=256k bench/alloc.py [-v] [CORPUS.jsonl] [STREAM.hex]
#
# For every Norwegian HDLC frame of the corpus with a good CRC (grouped by vendor, list
# and phases), on a fresh Decoder:
#   cold  = bytes allocated by the first feed of the frame (first sight: the text fields'
#           strings are made then)
#   warm  = decode once more (caches filled), then gc.collect(); gc.disable();
#           a = gc.mem_alloc(); feed the same frame N = 20 times;
#           warm = (gc.mem_alloc() - a) / N; gc.enable()
# Then the largest 3-phase frame of each vendor fed in reads of 256, 64, 16 and 1 bytes,
# as a UART poll would deliver it (warm, bytes per frame).
# Then the whole recorded stream (bench/out/stream.hex, if present) through one Decoder,
# frame by frame as a meter sends them: average, and how many frames allocated how much.
# The callback only counts readings; to_json() and publishing are not included.
# -v lists every frame. The unix port is 64-bit: pointers are 8 bytes and a GC block is
# 32 bytes (16 on the ESP32), so these figures are about twice an ESP32's. Small ints
# are 62-bit here but 30-bit on the ESP32: a value of 2**30 or more (or a negative int32)
# would allocate a long int there and not here.
# MicroPython only (uses gc.mem_alloc): run it with the unix port, not CPython.

import gc
import json
import sys
from binascii import unhexlify

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../firmware")

from han.decoder import Decoder  # noqa: E402

N = 20
LIMIT = 1024  # target: at most 1 KB per 3-phase list-3 frame
VENDORS = ("Aidon", "Kaifa", "Kamstrup", "Landis+Gyr")

_count = [0]


def _on_reading(rd):
    _count[0] += 1


def load(path):
    """Norwegian HDLC frames with a good CRC: list of (id, vendor, list, phases, bytes)."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r["country"] == "NO" and r["format"] == "hdlc" and r["crc_ok"] is True:
                ph = r["phases"] if r["list"] != 1 else 0  # list 1 looks the same for both
                out.append((r["id"], r["vendor"], r["list"], ph or 0, unhexlify(r["hex"])))
    return out


def measure(data):
    """(cold, warm per frame, readings) for one frame on a fresh Decoder."""
    d = Decoder(_on_reading)
    _count[0] = 0
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    d.feed(data)
    cold = gc.mem_alloc() - a
    gc.enable()
    d.feed(data)  # warm-up: caches filled
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(N):
        d.feed(data)
    warm = (gc.mem_alloc() - a) / N
    gc.enable()
    return cold, warm, _count[0]


def stream(path):
    """Feed a recorded stream frame by frame: (frames, readings, total, {bytes: frames})."""
    d = Decoder(_on_reading)
    _count[0] = 0
    total = 0
    n = 0
    hist = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            data = unhexlify(line)  # outside the measured window
            n += 1
            gc.collect()  # room for the frame: no collection can run while disabled
            gc.disable()
            a = gc.mem_alloc()
            d.feed(data)
            k = gc.mem_alloc() - a
            gc.enable()
            total += k
            hist[k] = hist.get(k, 0) + 1
    return n, _count[0], total, hist


def chunked(data, size):
    """Warm bytes per frame when the frame arrives in reads of `size` bytes."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    d = Decoder(_on_reading)
    for p in pieces:  # warm-up
        d.feed(p)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(5):
        for p in pieces:
            d.feed(p)
    per = (gc.mem_alloc() - a) // 5
    gc.enable()
    return per


def span(lo, hi):
    return ("%d" % lo) if lo == hi else ("%d-%d" % (lo, hi))


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    corpus = args[0] if args else _HERE + "/../../shared/frames/corpus.jsonl"
    stream_path = args[1] if len(args) > 1 else _HERE + "/out/stream.hex"
    frames = load(corpus)

    # Process-wide one-time costs (first calls, interned names) are not any frame's.
    measure(frames[0][4])

    results = []  # (vendor, list, phases, id, size, cold, warm, ok)
    for fid, vendor, lst, ph, data in frames:
        cold, warm, got = measure(data)
        results.append((vendor, lst, ph, fid, len(data), cold, warm, got == N + 2))

    print("Bytes allocated per frame by Decoder.feed (MicroPython unix port, 64-bit:")
    print("about 2x an ESP32's figures). warm = per frame after warm-up, mean of %d;" % N)
    print("cold = first feed of the frame on a fresh Decoder.")
    print()
    print(
        "%-11s %4s %6s %6s %9s %11s %11s  %s"
        % ("vendor", "list", "phases", "frames", "bytes", "warm B/fr", "cold B", "most (warm) in")
    )
    keys = []
    for r in results:
        k = (VENDORS.index(r[0]), r[1], r[2])
        if k not in keys:
            keys.append(k)
    keys.sort()
    worst_l3 = None
    bad = []
    for vi, lst, ph in keys:
        rows = [r for r in results if VENDORS.index(r[0]) == vi and r[1] == lst and r[2] == ph]
        top = rows[0]
        for r in rows:
            if r[6] > top[6]:
                top = r
        warms = [r[6] for r in rows]
        colds = [r[5] for r in rows]
        sizes = [r[4] for r in rows]
        print(
            "%-11s %4d %6s %6d %9s %11s %11s  %s"
            % (
                VENDORS[vi],
                lst,
                "-" if ph == 0 else "%dp" % ph,
                len(rows),
                span(min(sizes), max(sizes)),
                span(int(min(warms)), int(max(warms))),
                span(min(colds), max(colds)),
                top[3],
            )
        )
        if lst == 3 and ph == 3 and (worst_l3 is None or top[6] > worst_l3[6]):
            worst_l3 = top
        for r in rows:
            if not r[7]:
                bad.append(r[3])
    # The UART hands the decoder what arrived since the last poll: at 2400 baud about
    # 22 bytes per 100 ms. The largest list-3 3-phase frame of each vendor (list 2 for
    # Landis+Gyr, which has no list 3 here), fed in reads of these sizes:
    sizes = (0, 256, 64, 16, 1)
    print()
    print("Warm B/frame when the frame arrives in reads of n bytes (0: the whole frame):")
    print("%-45s %5s" % ("frame", "bytes") + "".join("%8s" % ("n=%d" % n) for n in sizes))
    per_feed = 0
    worst16 = None  # (bytes per frame in 16-byte reads, frame id), 3-phase list 3
    for v in VENDORS:
        big = None
        for r in frames:
            wanted = r[1] == v and r[3] == 3 and (r[2] == 3 or v == "Landis+Gyr")
            if wanted and (big is None or len(r[4]) > len(big[4])):
                big = r
        if big is None:
            continue
        got = [chunked(big[4], n or len(big[4])) for n in sizes]
        print("%-45s %5d" % (big[0], len(big[4])) + "".join("%8d" % g for g in got))
        feeds = (len(big[4]) + 15) // 16
        per_feed = max(per_feed, (got[3] - got[0]) / (feeds - 1))
        if big[2] == 3 and (worst16 is None or got[3] > worst16[0]):
            worst16 = (got[3], big[0])
    print("each extra feed() call allocates about %.0f B" % per_feed)

    if verbose:
        print()
        for r in results:
            print("  %-45s %4d B  warm %6.1f  cold %5d" % (r[3], r[4], r[6], r[5]))

    print()
    if bad:
        print("NOT DECODED on every feed: " + ", ".join(bad))
    try:
        open(stream_path).close()
        have_stream = True
    except OSError:
        have_stream = False
    if have_stream:
        n, got, total, hist = stream(stream_path)
        print(
            "stream %s: %d frames, %d readings; %.1f B/frame on average"
            % (stream_path, n, got, total / n)
        )
        print("  B/frame x frames: " + ", ".join("%d x%d" % (k, hist[k]) for k in sorted(hist)))
        print("  (the stream alternates recordings of different meters, so ids and types")
        print("  change between frames and their strings are made again; one meter's do not)")
    else:
        print("(no %s: run bench/make_stream.py for the stream figure)" % stream_path)

    if worst_l3 is not None:
        w = worst_l3[6]
        print(
            "target <= %d B per 3-phase list-3 frame, frame fed whole (warm): %s"
            " (largest %.0f B, %s; roughly %.0f B on an ESP32)"
            % (LIMIT, "MET" if w <= LIMIT else "MISSED", w, worst_l3[3], w / 2)
        )
    if worst16 is not None:
        print(
            "  same target, frame fed in 16-byte reads: %s (largest %d B, %s)"
            % ("MET" if worst16[0] <= LIMIT else "MISSED", worst16[0], worst16[1])
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
