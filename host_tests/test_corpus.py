# test_corpus.py: every recorded frame, every field, under CPython and MicroPython.
# MIT license; Copyright (c) 2026 hanmq
#
# frames/expected.jsonl holds, per corpus record, the values stated by the frame's source
# and by amshan, completed from the documented layouts (frames/make_expected.py): it was
# made without this decoder. A record with "reading": null must give no reading.

import json
import os

import pytest
from conftest import FRAMES, ROOT, load_corpus, load_expected, run_micropython

import decode_corpus

CORPUS = load_corpus()
EXPECTED = load_expected()
IDS = [r["id"] for r in CORPUS]


def _same(field, want, got):
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        # Exact decimals on both sides: they must agree to the last digit sent.
        return isinstance(got, (int, float)) and abs(want - got) <= 1e-9 * max(1, abs(want))
    return want == got


def check_reading(rec_id, got_json):
    want = EXPECTED[rec_id]["reading"]
    got = None if got_json is None else json.loads(got_json)
    if want is None:
        assert got is None, "%s: expected no reading, got %s" % (rec_id, got)
        return
    assert got is not None, "%s: no reading" % rec_id
    assert sorted(got) == sorted(want), "%s: fields differ: missing %s, extra %s" % (
        rec_id,
        sorted(set(want) - set(got)),
        sorted(set(got) - set(want)),
    )
    for field, value in want.items():
        assert _same(field, value, got[field]), "%s: %s = %r, expected %r" % (
            rec_id,
            field,
            got[field],
            value,
        )


def test_every_record_has_expectations():
    assert set(IDS) == set(EXPECTED)
    assert sum(1 for r in EXPECTED.values() if r["reading"]) >= 90


@pytest.mark.parametrize("rec", CORPUS, ids=IDS)
def test_frame_cpython(rec):
    reading, errors = decode_corpus.decode_record(rec)
    check_reading(rec["id"], reading)
    if EXPECTED[rec["id"]]["reading"] is None:
        assert errors, "a frame without a reading must be reported with its reason"


def test_energies_are_exact_integers_inside(corpus):
    # 109552.248 kWh in a float32 would be 109552.25 or 109552.2421875: the text
    # must carry every digit of the register as sent (10 Wh steps here).
    rec = next(r for r in corpus if r["id"] == "aidon-no-l3-ams-gh1119-1")
    reading, _ = decode_corpus.decode_record(rec)
    text = reading.split('"active_power_import_total": ')[1].split(",")[0]
    assert text == "109552.25"


def test_micropython_gives_identical_output():
    corpus_path = os.path.join(FRAMES, "corpus.jsonl")
    mp = run_micropython(["host_tests/decode_corpus.py", corpus_path], heap="96k")
    assert mp.returncode == 0, mp.stderr.decode()
    lines = mp.stdout.decode().splitlines()
    assert len(lines) == len(CORPUS)
    for rec, line in zip(CORPUS, lines):
        out = json.loads(line)
        assert out["id"] == rec["id"]
        cpy_reading, cpy_errors = decode_corpus.decode_record(rec)
        # Same text, byte for byte, as CPython produced, and right by the expectations.
        got = None if out["reading"] is None else json.dumps(out["reading"])
        assert (out["reading"] is None) == (cpy_reading is None), rec["id"]
        if got is not None:
            assert json.loads(cpy_reading) == out["reading"], rec["id"]
        assert out["errors"] == cpy_errors, rec["id"]
        check_reading(rec["id"], None if got is None else got)
    assert ROOT
