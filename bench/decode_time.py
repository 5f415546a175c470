# decode_time.py: time the firmware's Decoder alone on a hex stream, in this process.
# MIT license; Copyright (c) 2026 hanmq
#
#   python bench/decode_time.py [--json] [--runs N] FILE
#   micropython -X heapsize=8M bench/decode_time.py [--json] FILE
#
# The hex lines are turned into bytes first (one chunk per line, as a UART read would
# give them); only Decoder.feed() is timed, with a fresh Decoder per run and a callback
# that counts readings and prints nothing. With --json it also times feed() plus
# reading.to_json() for every reading (the text a publisher needs), still printing
# nothing. Prints one JSON line: frames decoded, best-of-N seconds and frames/s.
# Runs under CPython and the MicroPython unix port (imports only sys, time, binascii).

import sys
import time
from binascii import unhexlify

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../firmware")
if sys.implementation.name != "micropython":
    sys.path.insert(0, _HERE + "/../tools/shims")  # micropython.const for CPython

from han.decoder import Decoder  # noqa: E402

try:
    _clock = time.perf_counter
except AttributeError:  # MicroPython

    def _clock():
        return time.ticks_us() / 1000000


def load(path):
    chunks = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                chunks.append(unhexlify(line))
    return chunks


def run(chunks, with_json):
    count = [0, 0]  # readings, characters of JSON

    def on_reading(rd):
        count[0] += 1
        if with_json:
            count[1] += len(rd.to_json())

    d = Decoder(on_reading)
    t0 = _clock()
    for c in chunks:
        d.feed(c)
    t = _clock() - t0
    return t, count[0], d


def main(argv):
    runs = 3
    with_json = False
    path = None
    i = 0
    while i < len(argv):
        if argv[i] == "--runs":
            runs = int(argv[i + 1])
            i += 1
        elif argv[i] == "--json":
            with_json = True
        else:
            path = argv[i]
        i += 1
    if path is None:
        sys.stderr.write("usage: decode_time.py [--json] [--runs N] FILE\n")
        return 2
    chunks = load(path)
    best = None
    for _ in range(runs):
        t, n, d = run(chunks, with_json)
        if best is None or t < best:
            best = t
    print(
        '{"decoder": "ours%s", "frames_in": %d, "decoded": %d, "good_fcs": %d, '
        '"seconds": %.4f, "frames_per_s": %.1f}'
        % ("+to_json" if with_json else "", len(chunks), n, d.good, best, n / best)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
