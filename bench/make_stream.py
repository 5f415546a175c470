# make_stream.py: build the benchmark stream bench/out/stream.hex from the frame corpus.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/make_stream.py [--corpus PATH] [--out DIR]
#
# Writes, in DIR (default bench/out/):
#   stream.hex   about 10,000 frames, one frame per line as hex: what a dongle would record
#   norway.hex   each Norwegian frame once (the input of bench/minheap.py)
#   corpus.hex   every complete HDLC frame of the corpus, any country, bad CRC included
#
# Frames: the corpus's Norwegian HDLC frames whose CRC checks (crc_ok true), all vendors.
# Mix: one meter per vendor, each recorded for 625 ten-second cycles, one after the other
# (a dongle sees one meter). In a cycle, Aidon, Kaifa and Landis+Gyr push list 2 (at 0 s)
# and then list 1 four times (2, 4, 6, 8 s); Kamstrup pushes its 10 s list 2 only. A real
# meter sends list 3 instead of list 2 once an hour (every 360th cycle); here the hour is
# compressed to 60 cycles, so every list-3 frame of the corpus appears (0.33 % of the
# stream, instead of 0.06 %). Landis+Gyr has no list 3 in the corpus: its list-2 frames
# fill those slots. 3 x 625 x 5 + 625 = 10,000 frames. Each slot takes the vendor's
# recordings of that list in turn (round-robin, corpus order), so the stream is
# deterministic and every frame is used.

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The corpus lives beside the repository, in ../shared/frames/ (DEVELOPERS.md).
CORPUS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "frames", "corpus.jsonl"))

CYCLES = 625  # ten-second cycles per meter
HOUR = 60  # cycles between list-3 pushes (compressed; a real hour is 360)
VENDORS = ("Aidon", "Kaifa", "Kamstrup", "Landis+Gyr")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def norwegian(records):
    return [
        r
        for r in records
        if r["country"] == "NO" and r["format"] == "hdlc" and r["crc_ok"] is True
    ]


def meter(frames):
    """The frames one meter of this vendor pushes in CYCLES ten-second cycles."""
    by_list = {1: [], 2: [], 3: []}
    for r in frames:
        by_list[r["list"]].append(r["hex"])
    if not by_list[3]:
        by_list[3] = by_list[2]  # Landis+Gyr: no list 3 recorded
    turn = {1: 0, 2: 0, 3: 0}

    def take(n):
        pool = by_list[n]
        h = pool[turn[n] % len(pool)]
        turn[n] += 1
        return h

    out = []
    for c in range(CYCLES):
        out.append(take(3 if c % HOUR == 0 else 2))
        if by_list[1]:
            for _ in range(4):
                out.append(take(1))
    return out


def main(argv):
    corpus = CORPUS
    outdir = os.path.join(HERE, "out")
    i = 0
    while i < len(argv):
        if argv[i] == "--corpus":
            corpus = argv[i + 1]
            i += 2
        elif argv[i] == "--out":
            outdir = argv[i + 1]
            i += 2
        else:
            sys.stderr.write("usage: make_stream.py [--corpus PATH] [--out DIR]\n")
            return 2
    records = load(corpus)
    no = norwegian(records)
    os.makedirs(outdir, exist_ok=True)

    stream = []
    for v in VENDORS:
        stream += meter([r for r in no if r["vendor"] == v])
    with open(os.path.join(outdir, "stream.hex"), "w") as f:
        f.write("".join(h + "\n" for h in stream))
    with open(os.path.join(outdir, "norway.hex"), "w") as f:
        f.write("".join(r["hex"] + "\n" for r in no))
    with open(os.path.join(outdir, "corpus.hex"), "w") as f:
        f.write("".join(r["hex"] + "\n" for r in records if r["format"] == "hdlc"))

    used = set(stream)
    nbytes = sum(len(h) // 2 for h in stream)
    print(
        "stream.hex: %d frames, %d bytes, %d of %d Norwegian frames used"
        % (len(stream), nbytes, len(used), len(no))
    )
    counts = {}
    for v in VENDORS:
        for r in no:
            if r["vendor"] == v:
                counts[(v, r["list"])] = counts.get((v, r["list"]), 0) + stream.count(r["hex"])
    print("  " + ", ".join("%s L%d %d" % (v, n, k) for (v, n), k in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
