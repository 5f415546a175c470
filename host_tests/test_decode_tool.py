# test_decode_tool.py: tools/decode.py per DESIGN.md section 4, on both interpreters.
# MIT license; Copyright (c) 2026 hanmq

import json
import subprocess
import sys

import pytest
from conftest import MICROPYTHON, ROOT, load_corpus, load_expected

CORPUS = load_corpus()
EXPECTED = load_expected()
NORWEGIAN = [r for r in CORPUS if r["format"] == "hdlc" and r["country"] == "NO"]
INTERPRETERS = {"cpython": [sys.executable], "micropython": [MICROPYTHON, "-X", "heapsize=64k"]}


def run(interp, args, stdin=None):
    return subprocess.run(
        INTERPRETERS[interp] + ["tools/decode.py"] + args,
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def hex_file(tmp_path_factory):
    # Comments, frames split over lines, several frames on one line, spaces.
    path = tmp_path_factory.mktemp("dec") / "frames.hex"
    lines = []
    for i, rec in enumerate(NORWEGIAN):
        h = rec["hex"]
        lines.append("# %s" % rec["id"])
        if i % 3 == 0:
            lines.append(h[:51])  # an odd number of digits: the byte continues below
            lines.append(" ".join(h[51 + j : 53 + j] for j in range(0, len(h) - 51, 2)))
        elif i % 3 == 1:
            lines.append(h + "  # trailing comment")
        else:
            lines[-1] = lines[-1] + "\n" + h
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("interp", sorted(INTERPRETERS))
def test_hex_input_gives_one_json_line_per_frame(interp, hex_file):
    out = run(interp, [str(hex_file)])
    assert out.returncode == 0, out.stderr
    readings = [json.loads(line) for line in out.stdout.decode().splitlines()]
    want = [r for r in NORWEGIAN if EXPECTED[r["id"]]["reading"] is not None]
    assert len(readings) == len(want)
    for rec, got in zip(want, readings):
        exp = EXPECTED[rec["id"]]["reading"]
        for field, value in exp.items():
            if field == "meter_manufacturer" and field not in got:
                continue
            assert got[field] == pytest.approx(value, abs=1e-9) if isinstance(value, float) else got[field] == value
    errors = out.stderr.decode().splitlines()
    assert sum("bad FCS" in e for e in errors) == 2  # the two corrupt Kamstrup captures
    assert errors[-1].startswith("frames: good ")


def test_same_output_under_both_interpreters(hex_file):
    a = run("cpython", [str(hex_file)])
    b = run("micropython", [str(hex_file)])
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout
    assert a.stderr == b.stderr


@pytest.mark.parametrize("interp", sorted(INTERPRETERS))
def test_raw_capture_from_stdin(interp):
    raw = b"\x00\x13garbage" + b"".join(bytes.fromhex(r["hex"]) for r in NORWEGIAN[:20])
    out = run(interp, ["--raw", "-"], stdin=raw)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.decode().splitlines()) == 20


@pytest.mark.parametrize("interp", sorted(INTERPRETERS))
def test_truncated_end_and_bad_lines_are_reported(interp, tmp_path):
    f = tmp_path / "t.hex"
    f.write_text("zz not hex\n" + NORWEGIAN[5]["hex"] + "\n" + NORWEGIAN[6]["hex"][:80] + "\n")
    out = run(interp, [str(f)])
    assert out.returncode == 0
    err = out.stderr.decode()
    assert "line 1: not hex" in err and "truncated frame" in err
    assert len(out.stdout.decode().splitlines()) == 1


@pytest.mark.parametrize("interp", sorted(INTERPRETERS))
def test_unusable_arguments_exit_2(interp, tmp_path):
    assert run(interp, [str(tmp_path / "missing.hex")]).returncode == 2
    assert run(interp, ["--bogus"]).returncode == 2
    assert run(interp, ["a", "b"]).returncode == 2
