# throughput.py: decoding speed of the firmware's decoder against amshan, side by side.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/throughput.py [--stream FILE] [--runs N]
#
# Input: bench/out/stream.hex (run bench/make_stream.py first). Every measurement runs in
# a subprocess of its own (amshan's package is also named `han`); the best (shortest)
# time is kept:
#   (a) tools/decode.py FILE under CPython: the whole pipeline, interpreter start-up,
#       hex parsing and one JSON line per frame on stdout (into a file);
#       N rounds (default 5), (a) and (b) taking turns
#   (b) bench/amshan_decode.py FILE: the same pipeline built from amshan
#   (c) in-process decoding alone (bench/decode_time.py, bench/amshan_decode.py --time):
#       bytes already in memory, no JSON, no printing; best of 3 inside each subprocess
#   (c2) ours with reading.to_json() per frame (ours defers all text formatting, amshan
#       builds a dict of finished values: this is the closer like-for-like)
# For information, not compared with amshan (it does not run there): tools/decode.py
# and decode_time.py under the MicroPython unix port.
# Speed-up = our frames/s divided by amshan's. Frames decoded must be close to the total.

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.environ.get("PYTHON", os.path.join(VENV, "python"))
MICROPYTHON = os.environ.get("MICROPYTHON", os.path.join(VENV, "micropython"))


def pipeline(cmd):
    """Wall time of one run of cmd, and the number of JSON lines it printed.
    Its stdout goes to a file (as in `decode.py FILE > out`): a pipe would add the
    parent's reading to the time, on a machine with two cores."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
        t = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit("%s failed (%d): %s" % (cmd, p.returncode, p.stderr.decode()[-500:]))
        out.seek(0)
        return t, sum(1 for ln in out if ln.startswith(b"{"))


def inprocess(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (cmd, p.returncode, p.stderr.decode()[-500:]))
    r = json.loads(p.stdout.decode().strip().splitlines()[-1])
    return r["seconds"], r["decoded"]


def main(argv):
    stream = os.path.join(HERE, "out", "stream.hex")
    runs = 5
    i = 0
    while i < len(argv):
        if argv[i] == "--stream":
            stream = argv[i + 1]
        elif argv[i] == "--runs":
            runs = int(argv[i + 1])
        else:
            sys.stderr.write("usage: throughput.py [--stream FILE] [--runs N]\n")
            return 2
        i += 2
    if not os.path.exists(stream):
        sys.stderr.write("%s missing: run bench/make_stream.py first\n" % stream)
        return 2
    with open(stream) as f:
        total = sum(1 for ln in f if ln.strip())
    decode_py = os.path.join(ROOT, "tools", "decode.py")
    amshan_py = os.path.join(HERE, "amshan_decode.py")
    time_py = os.path.join(HERE, "decode_time.py")

    rows = []  # (label, best seconds, readings decoded)
    mp_heap = ["-X", "heapsize=16M"]  # decode_time.py holds the whole stream as bytes
    measure = (
        ("(a) tools/decode.py, CPython, wall", pipeline, [PYTHON, decode_py, stream]),
        ("(b) amshan pipeline, CPython, wall", pipeline, [PYTHON, amshan_py, stream]),
        ("(c) ours: Decoder.feed alone", inprocess, [PYTHON, time_py, "--runs", "3", stream]),
        (
            "(c) amshan: reader + AutoDecoder alone",
            inprocess,
            [PYTHON, amshan_py, "--time", stream],
        ),
        (
            "(c2) ours: feed + to_json()",
            inprocess,
            [PYTHON, time_py, "--json", "--runs", "3", stream],
        ),
        ("(i) tools/decode.py, MicroPython, wall", pipeline, [MICROPYTHON, decode_py, stream]),
        (
            "(i) ours: feed alone, MicroPython",
            inprocess,
            [MICROPYTHON] + mp_heap + [time_py, "--runs", "3", stream],
        ),
    )
    # Wall times: the pipelines take turns, round after round, so a burst of other work
    # on the machine hits them alike; the best of the rounds is kept.
    best = {}
    for _ in range(runs):
        for label, how, cmd in measure:
            if how is pipeline:
                t, n = pipeline(cmd)
                if label in best and best[label][1] != n:
                    raise SystemExit("%s printed %d then %d readings" % (cmd, best[label][1], n))
                if label not in best or t < best[label][0]:
                    best[label] = (t, n)
    for label, how, cmd in measure:
        secs, n = best[label] if how is pipeline else inprocess(cmd)
        rows.append((label, secs, n))

    print(
        "stream: %s, %d frames; wall: best of %d rounds, in-process: best of %d runs"
        % (os.path.relpath(stream, ROOT), total, runs, 3)
    )
    print("%-42s %9s %10s %9s" % ("measurement", "seconds", "frames/s", "decoded"))
    for label, secs, n in rows:
        print("%-42s %9.3f %10.0f %9d" % (label, secs, n / secs, n))
    print()
    print("speed-up (our frames/s / amshan frames/s):")
    pairs = (
        ("(a) / (b)  pipeline", rows[0], rows[1]),
        ("(c) / (c)  decoding alone", rows[2], rows[3]),
        ("(c2) / (c) ours with to_json", rows[4], rows[3]),
    )
    for name, ours, theirs in pairs:
        print("  %-40s %6.1fx" % (name, (ours[2] / ours[1]) / (theirs[2] / theirs[1])))
    bad = [label for label, _, n in rows if n < total * 0.99]
    print(
        "frames decoded: %s"
        % ("all close to the total (%d)" % total if not bad else "LOW in " + ", ".join(bad))
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
