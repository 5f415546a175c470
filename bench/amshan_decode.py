# amshan_decode.py: the amshan pipeline equivalent to tools/decode.py, for benchmarks.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/amshan_decode.py FILE           decode and print, like tools/decode.py
#   python bench/amshan_decode.py --time FILE    time the decoding alone (best of 3)
#
# Needs amshan (PyPI, 2.1.1) and must run in its own process: amshan's package is also
# named `han`, like the firmware's decoder, so never import both in one process.
# Pipeline: read hex lines, unhexlify each line, feed the bytes to
# han.hdlc.HdlcFrameReader(use_octet_stuffing=False, use_abort_sequence=True); for every
# frame with a good FCS, han.autodecoder.AutoDecoder().decode_message_payload(payload),
# then json.dumps the dict (datetimes as str). Summary on stderr.
# --time: the hex is turned into bytes first; only reader + decoder are timed (no JSON,
# no printing), three runs with fresh objects, and one JSON line with the best is printed.

import json
import sys
import time
from binascii import unhexlify

from han.autodecoder import AutoDecoder
from han.hdlc import HdlcFrameReader


def load(f):
    chunks = []
    for line in f:
        line = line.split("#", 1)[0].strip()
        if line:
            chunks.append(unhexlify("".join(line.split())))
    return chunks


def decode(chunks, emit):
    """Feed all chunks; call emit(dict) per decoded frame. Returns (frames, good, decoded)."""
    reader = HdlcFrameReader(use_octet_stuffing=False, use_abort_sequence=True)
    decoder = AutoDecoder()
    frames = good = decoded = 0
    for chunk in chunks:
        for frame in reader.read(chunk):
            frames += 1
            if not frame.is_good_ffc:
                continue
            good += 1
            result = decoder.decode_message_payload(frame.payload)
            if result:
                decoded += 1
                if emit:
                    emit(result)
    return frames, good, decoded


def main(argv):
    timing = "--time" in argv
    args = [a for a in argv if a != "--time"]
    if len(args) != 1:
        sys.stderr.write("usage: amshan_decode.py [--time] FILE\n")
        return 2
    with open(args[0]) as f:
        chunks = load(f)
    if timing:
        best = None
        for _ in range(3):
            t0 = time.perf_counter()
            frames, good, decoded = decode(chunks, None)
            t = time.perf_counter() - t0
            best = t if best is None or t < best else best
        print(
            json.dumps(
                {
                    "decoder": "amshan",
                    "frames_in": len(chunks),
                    "decoded": decoded,
                    "good_fcs": good,
                    "seconds": round(best, 4),
                    "frames_per_s": round(decoded / best, 1),
                }
            )
        )
        return 0
    out = sys.stdout

    def emit(d):
        out.write(json.dumps(d, default=str) + "\n")

    frames, good, decoded = decode(chunks, emit)
    sys.stderr.write("frames: %d, good FCS %d; readings %d\n" % (frames, good, decoded))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
