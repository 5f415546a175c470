#!/usr/bin/env python3
# selftest.py: check a board with the firmware `make deploy` put there, in one report.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/selftest.py --port /dev/ttyUSB0 [--board esp32_devkit] [--out FILE]
#   python tools/selftest.py --simulate [--no-wire]       (the simulated board)
#   python tools/selftest.py --print-board-program
#   make selftest PORT=/dev/ttyUSB0 [BOARD=esp32_devkit]
#
# On the board (tools/board_selftest.py, run with `mpremote connect PORT run`, the
# recorded frames written into it), through the deployed firmware's own modules:
# 1. a selection of Norwegian frames (host_tests/frames/corpus.jsonl, one per make and
#    list) decoded by han.decoder; this side compares each reading with
#    host_tests/frames/expected.jsonl, so float32 and integer trouble on the chip shows;
# 2. heap figures: gc.mem_free() and gc.mem_alloc() after gc.collect(), the ESP-IDF data
#    heap (hw.heap_info()), the MicroPython version and board.py's name and pins;
# 3. a Wi-Fi scan: the networks seen, strongest first (names and signal; no addresses);
# 4. a UART loopback at 2400 baud, 8E1 and 8N1: the pattern written out of
#    board.LOOPBACK_TX_PIN must come back on the meter's RX pin (a wire between the two,
#    README 12), with the UART settings the firmware uses (hw.uart).
# Then the board is reset (`mpremote connect PORT reset`): the firmware starts again.
#
# The report is plain text, printed and written to --out (default selftest-report.txt),
# made to be pasted into a bug report. Nothing reads config.json, here or on the board:
# no password can get into it. The network names seen around the board are in it.
# Heap figures are reported, not judged (DESIGN.md 8: on a board gc.mem_free() counts
# the system heap too).
#
# --simulate runs the same on-board program under the MicroPython unix port on the
# simulated board (tools/simboard.py, tools/sim: the firmware's seam for the host):
# the loopback wire is modelled by the host's UART model (--no-wire: not there).
#
# Exit status: 0 every check passed, 1 a check failed or the board could not be run,
# 2 bad arguments.

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import build  # noqa: E402
import flash  # noqa: E402  (the pinned MicroPython version)
import serialport  # noqa: E402

PROGRAM = os.path.join(HERE, "board_selftest.py")
FRAMES_DIR = os.path.join(ROOT, "host_tests", "frames")
REPORT = "selftest-report.txt"
TIMEOUT_S = 180
#: The line of PROGRAM that the frames replace.
FRAMES_LINE = "\nFRAMES = ()\n"
#: network.AUTH_* of the ESP32 port (ESP-IDF's wifi_auth_mode_t).
SECURITY = ("open", "WEP", "WPA-PSK", "WPA2-PSK", "WPA/WPA2-PSK", "WPA2-Enterprise",
            "WPA3-PSK", "WPA2/WPA3-PSK", "WAPI-PSK", "OWE")


# -- the frames ------------------------------------------------------------------------


def _load(name):
    with open(os.path.join(FRAMES_DIR, name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def _digits(v):
    return len(repr(v).replace("-", "").replace(".", "").lstrip("0"))


def pick_frames(corpus=None, expected=None):
    """[(corpus record, expected reading)]: one Norwegian frame per make and list, the
    one with the most values, then with the most significant digits in a value (what a
    float32 would round), then the first in the corpus."""
    corpus = _load("corpus.jsonl") if corpus is None else corpus
    expected = expected or {r["id"]: r["reading"] for r in _load("expected.jsonl")}
    best = {}
    for rec in corpus:
        want = expected.get(rec["id"])
        if not (want and rec["country"] == "NO" and rec["format"] == "hdlc" and rec["crc_ok"]):
            continue
        nums = [v for v in want.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        score = (len(want), max(map(_digits, nums), default=0))
        key = (rec["vendor"], rec["list"])
        if key not in best or score > best[key][0]:
            best[key] = (score, rec, want)
    return [(best[k][1], best[k][2]) for k in sorted(best)]


def board_program(frames):
    """The on-board program's text, the frames' hex written into it."""
    with open(PROGRAM) as f:
        text = f.read()
    assert FRAMES_LINE in text, PROGRAM + " has no FRAMES line"
    lit = "(\n%s)" % "".join("    %r,\n" % rec["hex"].lower() for rec, _ in frames)
    return text.replace(FRAMES_LINE, "\nFRAMES = %s\n" % lit, 1)


# -- the two kinds of board: run(program path) -> (exit status, stdout, stderr) ----------


class MpremoteBoard:
    """A board on a serial port, through mpremote (pinned in requirements-dev.txt)."""

    simulated = False

    def __init__(self, port, run=subprocess.run, log=print):
        self.port = port
        self.run_cmd = run
        self.log = log

    def describe(self):
        return "%s (mpremote)" % self.port

    def mpremote(self):
        return [sys.executable, "-m", "mpremote", "connect", self.port]

    def run(self, program):
        cmd = self.mpremote() + ["run", program]
        self.log("$ " + shlex.join(cmd))
        try:
            r = self.run_cmd(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
            got = (r.returncode, r.stdout or "", r.stderr or "")
        except subprocess.TimeoutExpired as e:
            got = (None, _text(e.stdout), "mpremote did not finish in %d s" % TIMEOUT_S)
        cmd = self.mpremote() + ["reset"]  # the firmware starts again
        self.log("$ " + shlex.join(cmd))
        try:
            self.run_cmd(cmd, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        return got


def _text(b):
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


class SimulatedBoard:
    """The simulated board (tools/simboard.py): the program under the MicroPython unix
    port at the ESP32's heap, with tools/sim first on its module path. wire: the
    loopback wire from the TX pin to the RX pin is there. workdir: the board's files
    (its current directory). After run(), `uart` is the host's model of its UART."""

    simulated = True

    def __init__(self, workdir=None, wire=True, scan=None, micropython=None, log=print):
        import simulate

        self.sim = simulate
        self.workdir = workdir or tempfile.mkdtemp(prefix="hanmq-selftest-")
        self.wire = wire
        self.scan = simulate.SCAN if scan is None else scan
        self.exe = simulate.micropython(micropython)
        self.heap = simulate.board_heap(self.exe)
        self.log = log
        self.uart = None

    def describe(self):
        exe = os.path.relpath(self.exe, ROOT)
        return "simulated board (tools/simboard.py; %s -X heapsize=%s)%s" % (
            self.exe if exe.startswith("../..") else exe, self.heap,
            "" if self.wire else ", no loopback wire")

    def run(self, program):
        import simboard

        env = dict(os.environ, MICROPYPATH=self.sim.module_path(),
                   HANMQ_SCAN=json.dumps(self.scan))
        self.uart = simboard.Uart(simboard.Line("E"), loopback=self.wire)
        cmd = [self.exe, "-X", "heapsize=" + self.heap, program]
        self.log("$ " + shlex.join(cmd))
        board = simboard.Board(cmd, env, self.workdir, self.uart).start()
        try:
            rc = board.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            board.stop()
        return rc, board.output() + "\n", ""


# -- what the board said -----------------------------------------------------------------


class Found:
    """tools/board_selftest.py's output, parsed."""

    def __init__(self):
        self.implementation = self.uname = None
        self.board = None  # (name, UART id, RX pin, loopback TX pin), as text
        self.mem = []  # (when, mem_free, mem_alloc)
        self.idf = []  # (total, free, largest free block, minimum free ever)
        self.readings = {}  # frame index: (microseconds, reading JSON text)
        self.errors = {}  # frame index: [reason]
        self.nets = []  # (RSSI, channel, security, hidden, SSID bytes)
        self.loops = {}  # "8E1": (bytes written, bytes read back)
        self.failed = []  # (step, error)
        self.finished = False
        self.other = []  # lines not understood: a traceback, the board's own messages


def parse(text):
    f = Found()
    for line in text.splitlines():
        line = line.strip("\r\x04")
        tag, _, rest = line.partition(" ")
        try:
            if tag == "I":
                f.implementation = rest
            elif tag == "U":
                f.uname = None if rest == "-" else rest
            elif tag == "B":
                f.board = tuple(rest.split(" "))
            elif tag == "M":
                when, free, alloc = rest.split(" ")
                f.mem.append((when, int(free), int(alloc)))
            elif tag == "H":
                f.idf.append(tuple(int(x) for x in rest.split(" ")))
            elif tag == "F":
                n, us, js = rest.split(" ", 2)
                f.readings[int(n)] = (int(us), js)
            elif tag == "E":
                n, reason = rest.split(" ", 1)
                f.errors.setdefault(int(n), []).append(reason)
            elif tag == "W":
                rssi, ch, sec, hidden, ssid = rest.split(" ")
                f.nets.append((int(rssi), int(ch), int(sec), hidden == "1",
                               b"" if ssid == "-" else bytes.fromhex(ssid)))
            elif tag == "L":
                name, sent, back = rest.split(" ")
                f.loops[name] = (bytes.fromhex(sent), b"" if back == "-" else bytes.fromhex(back))
            elif tag == "X":
                step, _, err = rest.partition(" ")
                f.failed.append((step, err))
            elif line == "END":
                f.finished = True
            elif line.strip():
                f.other.append(line)
        except ValueError:
            f.other.append(line)
    return f


# -- the checks ------------------------------------------------------------------------


def same(want, got):
    """tests' rule (host_tests/test_corpus.py): numbers to the last digit sent."""
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return (isinstance(got, (int, float)) and not isinstance(got, bool)
                and abs(want - got) <= 1e-9 * max(1, abs(want)))
    return want == got


def reading_problems(want, got_json):
    """What differs between the expected reading and the board's JSON text ([]: none)."""
    try:
        got = json.loads(got_json)
    except ValueError:
        return ["not JSON: %s" % got_json[:80]]
    out = ["%s missing" % k for k in want if k not in got]
    out += ["%s = %s, not expected" % (k, json.dumps(got[k])) for k in got if k not in want]
    out += ["%s = %s, expected %s" % (k, json.dumps(got[k]), json.dumps(want[k]))
            for k in want if k in got and not same(want[k], got[k])]
    return out


def _ssid(b):
    s = b.decode("utf-8", "replace")
    return s if s.isprintable() else repr(s)


def _pin(p):
    return "GPIO" + p if p and p.isdigit() else "-" if p == "None" else str(p)


def _first_difference(sent, back):
    for i, (a, b) in enumerate(zip(sent, back)):
        if a != b:
            return "first difference at byte %d: sent %02x, got %02x" % (i, a, b)
    return "the first %d bytes match" % min(len(sent), len(back))


def checks(found, frames, board):
    """[(ok, label, detail)] and the report's sections, in order: [(title, lines)]."""
    results = []
    sections = []

    def check(ok, label, detail, lines):
        results.append((ok, label, detail))
        lines.append("  %-5s %s: %s" % ("ok" if ok else "FAIL", label, detail))

    failed = dict(found.failed)
    if (found.board and found.board[3:] == ("?",)) or any(
            "heap_info" in err for _, err in found.failed):
        results.append((False, "firmware", "older than this self-test (board.py without "
                        "LOOPBACK_TX_PIN, or hw.py without heap_info): make deploy first"))
    for step, err in found.failed:
        if step not in ("decode", "scan", "heap", "idf-heap") and not step.startswith("loopback"):
            results.append((False, step, err))  # shown in the result

    # 1. decoding
    lines = []
    if "decode" in failed:
        check(False, "decode", "the decoder could not run: %s" % failed["decode"], lines)
    for i, (rec, want) in enumerate(frames):
        label = "decode %s list %d" % (rec["vendor"], rec["list"])
        name = "%s (%d bytes)" % (rec["id"], len(rec["hex"]) // 2)
        if i in found.readings:
            us, js = found.readings[i]
            problems = reading_problems(want, js)
            if problems:
                check(False, label, "%s: %s" % (name, "; ".join(problems)), lines)
            else:
                check(True, label, "%s, %d value%s as expected%s" % (
                    name, len(want), "" if len(want) == 1 else "s",
                    "" if board.simulated else ", %.1f ms" % (us / 1000.0)), lines)
        else:
            why = "; ".join(found.errors.get(i, ["no answer from the board"]))
            check(False, label, "%s: no reading: %s" % (name, why), lines)
    sections.append(("Decoding: %d recorded frames, the firmware's han.decoder on the board, "
                     "checked against host_tests/frames/expected.jsonl" % len(frames), lines))

    # 2. heap: the figures are reported, not judged; the check is that they were read
    lines = []
    problems = ["%s: %s" % (step, err) for step, err in found.failed
                if step == "heap" or (step == "idf-heap" and not board.simulated)]
    if not found.mem and not problems:
        problems.append("no figures from the board")
    check(not problems, "heap", "; ".join(problems) or "figures read", lines)
    for when, free, alloc in found.mem:
        lines.append("  %-9s gc.mem_free() %8d   gc.mem_alloc() %8d" % (
            "at " + when, free, alloc))
    if found.idf:
        lines.append("  ESP-IDF data heap, esp32.idf_heap_info(esp32.HEAP_DATA):")
        lines.append("    %-6s %8s %8s %19s %18s" % ("region", "total", "free",
                                                    "largest free block", "minimum free ever"))
        for k, r in enumerate(found.idf):
            lines.append("    %-6d %8d %8d %19d %18d" % ((k + 1,) + tuple(r)))
    elif board.simulated:
        lines.append("  ESP-IDF data heap: none (a simulated board: the unix port's heap only)")
    elif "idf-heap" not in failed:
        lines.append("  ESP-IDF data heap: esp32.idf_heap_info() gave no region")
    sections.append(("Heap after gc.collect() (reported, not judged)", lines))

    # 3. Wi-Fi
    lines = []
    if "scan" in failed:
        check(False, "Wi-Fi scan", "failed: %s" % failed["scan"], lines)
    elif found.finished and not found.nets:
        check(False, "Wi-Fi scan", "no network seen (an antenna problem, or no Wi-Fi here?)",
              lines)
    elif found.nets:
        check(True, "Wi-Fi scan", "%d networks seen" % len(found.nets), lines)
        lines.append("    %8s  %7s  %-15s %s" % ("RSSI", "channel", "security", "name"))
        for rssi, ch, sec, hidden, ssid in found.nets:
            lines.append("    %4d dBm  %7d  %-15s %s" % (
                rssi, ch, SECURITY[sec] if 0 <= sec < len(SECURITY) else "auth %d" % sec,
                "(hidden)" if hidden or not ssid else _ssid(ssid)))
    sections.append(("Wi-Fi scan, strongest first", lines))

    # 4. UART loopback
    lines = []
    b = found.board or ("?", "?", "?", "?")
    tx, rx = _pin(b[3]), _pin(b[2])
    wire = "a wire from %s (TX) to %s (RX)" % (tx, rx)
    missing = "is the wire from %s to %s in place, and the converter's TX off %s?" % (tx, rx, rx)
    if board.simulated:
        wire = "the simulated board's loopback wire" if board.wire else "no loopback wire"
        missing = "the simulated board has no wire from the TX pin to the RX pin"
    for name in ("8E1", "8N1"):
        label = "loopback %s" % name
        if "loopback-" + name in failed:
            err = failed["loopback-" + name]
            hint = ""
            if b[3] == "?" or "TypeError" in err or "AttributeError" in err:
                hint = " (the firmware on the board predates the self-test: make deploy first)"
            check(False, label, "not run: %s%s" % (err, hint), lines)
            continue
        if name not in found.loops:
            if found.board is not None:
                check(False, label, "no answer from the board", lines)
            continue
        sent, back = found.loops[name]
        if back == sent:
            check(True, label, "%d bytes written, the same %d read back" % (len(sent), len(back)),
                  lines)
        elif not back:
            check(False, label, "%d bytes written, nothing came back: %s" % (len(sent), missing),
                  lines)
        else:
            check(False, label, "%d bytes written, %d other bytes came back (%s): the meter's "
                  "converter still on %s, or the UART not at 2400 baud %s" % (
                      len(sent), len(back), _first_difference(sent, back), rx, name), lines)
    sections.append(("UART loopback at 2400 baud: %s" % wire, lines))

    if any("ImportError" in line for line in found.other):
        results.append((False, "firmware", "a module of the firmware is missing on the board "
                        "(ImportError, below): make deploy first"))
    if not found.finished:
        results.append((False, "board program", "did not finish"))
    return results, sections


# -- the report ------------------------------------------------------------------------


def _git():
    try:
        r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def report(found, frames, board, asked_board, rc, stderr):
    results, sections = checks(found, frames, board)
    if rc != 0:
        results.append((False, "run", "the board program's run ended with exit status %s" % rc))
    out = ["hanmq self-test report", ""]
    head = [("date", time.strftime("%Y-%m-%d %H:%M:%S %z") + " (this computer)"),
            ("target", board.describe())]
    if found.board and board.simulated:
        head.append(("board", "%s (tools/sim/board.py: no pins)" % found.board[0]))
    elif found.board:
        name, uart, rx, tx = (tuple(found.board) + ("?",) * 4)[:4]
        text = "%s: UART%s, RX %s, loopback TX %s (board.py on the board)" % (
            name, uart, _pin(rx), _pin(tx))
        if asked_board and not board.simulated and name != asked_board:
            text += "; BOARD=%s was given: the board was deployed for %s" % (asked_board, name)
        head.append(("board", text))
    elif asked_board:
        head.append(("board", "%s (BOARD=; the board did not say)" % asked_board))
    m = re.search(r"version=\((\d+), (\d+), (\d+)", found.implementation or "")
    if m:
        version = ".".join(m.groups())
        head.append(("MicroPython", version + (
            "" if version == flash.VERSION else
            " (this firmware is built and tested for %s: make flash)" % flash.VERSION)))
    head += [("sys.implementation", found.implementation or "?"),
             ("os.uname()", found.uname or ("none on this port" if found.implementation
                                            else "?")),
             ("host", "tools/selftest.py, hanmq %s" % (_git() or "(not a git checkout)"))]
    for k, v in head:
        out.append("  %-19s %s" % (k, v))
    for title, lines in sections:
        out += ["", title] + (lines or ["  (nothing from the board)"])
    extra = [line for line in found.other if line.strip()]
    if extra or (rc != 0 and stderr.strip()):
        out += ["", "Other output from the board"]
        out += ["  | " + line for line in extra[-40:]]
        out += ["  | " + line for line in stderr.strip().splitlines()[-20:]]
    bad = [r for r in results if not r[0]]
    out.append("")
    if bad:
        out.append("RESULT: FAIL: %d of %d checks failed" % (len(bad), len(results)))
        out += ["  FAIL  %s: %s" % (label, detail) for _, label, detail in bad]
    else:
        out.append("RESULT: PASS: all %d checks passed" % len(results))
    return "\n".join(out) + "\n", not bad


def selftest(board, out_path, asked_board=None, frames=None, log=print):
    """Run the self-test on `board` (MpremoteBoard or SimulatedBoard); write the report
    to out_path and return (exit status, report text)."""
    frames = pick_frames() if frames is None else frames
    with tempfile.TemporaryDirectory(prefix="hanmq-selftest-") as d:
        program = os.path.join(d, "board_selftest.py")
        with open(program, "w") as f:
            f.write(board_program(frames))
        rc, stdout, stderr = board.run(program)
    found = parse(stdout)
    text, ok = report(found, frames, board, asked_board, rc, stderr)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    return (0 if ok else 1), text


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check a board with the deployed firmware: "
                                 "decoding, heap, Wi-Fi scan, UART loopback.")
    ap.add_argument("--port", default="", help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--board", help="the board file it was deployed with: " +
                    ", ".join(build.boards()))
    ap.add_argument("--out", default=REPORT, help="report file (default %s)" % REPORT)
    ap.add_argument("--simulate", action="store_true",
                    help="run on the simulated board (MicroPython unix port) instead")
    ap.add_argument("--no-wire", action="store_true",
                    help="--simulate: without the loopback wire (the loopback fails)")
    ap.add_argument("--workdir", help="--simulate: the board's files (default: a new directory)")
    ap.add_argument("--micropython", metavar="PATH", help="--simulate: the MicroPython binary")
    ap.add_argument("--print-board-program", action="store_true",
                    help="print the program run on the board, frames filled in, and exit")
    a = ap.parse_args(argv)
    if a.print_board_program:
        sys.stdout.write(board_program(pick_frames()))
        return 0
    if a.board and a.board not in build.boards():
        print("selftest: unknown board %r: choose one of %s" % (a.board, ", ".join(build.boards())),
              file=sys.stderr)
        return 2
    err = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if a.simulate:
        board = SimulatedBoard(a.workdir, wire=not a.no_wire, micropython=a.micropython, log=err)
    else:
        try:
            serialport.check(a.port)
        except serialport.PortError as e:
            err("selftest: %s" % e)
            return 1
        board = MpremoteBoard(a.port, log=err)
    err("selftest: running the self-test on the simulated board" if a.simulate else
        "selftest: running the self-test on the board on %s (about 15 s); it is reset "
        "afterwards, which starts the firmware again" % a.port)
    status, text = selftest(board, a.out, a.board, log=err)
    sys.stdout.write(text)
    err("selftest: report written to %s" % a.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
