# decode_corpus.py: decode every record of frames/corpus.jsonl, one result line each.
# MIT license; Copyright (c) 2026 hanmq
#
# Runs unchanged under CPython and the MicroPython unix port, so the test suite can
# check that both interpreters give the same readings:
#   micropython host_tests/decode_corpus.py [CORPUS]
# Each record is decoded by a fresh decoder, as if it were the first frame a dongle
# heard. Output line: {"id": ..., "reading": {...} | null, "errors": [...]}

import json
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../firmware")
if sys.implementation.name != "micropython":
    sys.path.insert(0, _HERE + "/../tools/shims")  # micropython.const for CPython

from binascii import unhexlify  # noqa: E402

from han.decoder import Decoder  # noqa: E402
from han.dlms import decode_apdu  # noqa: E402
from han.reading import Reading  # noqa: E402


def decode_record(rec):
    """(reading JSON text or None, list of error texts) for one corpus record."""
    data = unhexlify(rec["hex"])
    readings = []
    errors = []
    if rec["format"] == "llc_pdu":
        rd = Reading()
        try:
            err = decode_apdu(memoryview(data), rd, None)
        except (IndexError, ValueError):
            err = "malformed"
        if err is None:
            readings.append(rd.to_json())
        else:
            errors.append(err)
    else:
        d = Decoder(lambda rd: readings.append(rd.to_json()), lambda r, o: errors.append(r))
        d.feed(data)
    return (readings[0] if readings else None), errors


def main(path):
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            reading, errors = decode_record(rec)
            print(
                '{"id": %s, "reading": %s, "errors": %s}'
                % (json.dumps(rec["id"]), reading or "null", json.dumps(errors))
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else _HERE + "/frames/corpus.jsonl")
