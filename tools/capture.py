#!/usr/bin/env python3
# capture.py: record a real meter into the hex format tools/decode.py and the tests read.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/capture.py PORT [--parity E|N] [--out FILE] [--seconds S] [--frames N]
#   python tools/capture.py PORT --repl [--parity E|N] ...      (through the dongle)
#   make capture PORT=/dev/ttyUSB0 [PARITY=N] [OUT=meter.hex]
#
# Two ways to listen to the meter:
# - A USB M-Bus adapter (a "USB to M-Bus slave" stick, or a TSS721 module on a USB-TTL
#   cable): PORT is the adapter, read with pyserial at 2400 baud, 8E1 (--parity E, the
#   default: Aidon, Kaifa, Landis+Gyr) or 8N1 (--parity N: Kamstrup).
# - The dongle itself (--repl): PORT is the dongle's USB console. The running firmware is
#   stopped with Ctrl-C, and a small program (BOARD_PROGRAM below) is run in the raw REPL
#   through mpremote's serial transport: it opens the meter UART with the pins of the
#   board's board.py and prints one line per burst, "<age ms> <hex>". When the capture
#   ends the board gets a soft reset and runs the firmware again. By hand, the same
#   program can be run with `mpremote connect PORT exec "$(python tools/capture.py
#   --print-board-program)"`, copying the lines it prints.
#
# Output: a header of '#' comments, then per read burst (bytes separated by at least
# --gap seconds of silence, so normally one meter push) a comment line with the local
# time of its first byte and a line of hex:
#   # 2026-11-27T10:00:02.5 +2.5 s 44 bytes
#   7ea02a410883130413e6e700...
# `python tools/decode.py FILE` decodes it; attach it to a bug report. While recording,
# each frame is checked with the firmware's decoder and shown on stderr (good, or why
# not); a run of bad checksums with no good frame suggests the other parity.
# Stops on Ctrl-C, after --seconds, or after --frames frames (good or bad).
#
# Exit status: 0 recorded, 1 the port could not be used, 2 bad arguments.

import argparse
import binascii
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(HERE, "shims"), os.path.join(ROOT, "firmware")]

import serialport  # noqa: E402
from han import fields  # noqa: E402
from han.decoder import Decoder  # noqa: E402

BAUD = 2400
CONSOLE_BAUD = 115200
GAP_S = 0.2  # silence that ends a burst: a push is continuous, pushes are >= 2 s apart

# Runs on the dongle (MicroPython). %(parity)s and %(gap_ms)d are filled in. The
# firmware's watchdog (if on) keeps running in the REPL: a WDT made here is fed instead
# (making one again reconfigures the same watchdog on ESP32).
BOARD_PROGRAM = """\
import time, binascii, machine, board
try:
    _w = machine.WDT(timeout=60000)
except Exception:
    _w = None
_kw = {}
if board.INVERT_RX:
    _kw['invert'] = machine.UART.INV_RX
_u = machine.UART(board.UART_ID, baudrate=2400, bits=8, parity=%(parity)s, stop=1,
                  rx=board.RX_PIN, rxbuf=4096, timeout=0, **_kw)
_b = bytearray(1024)
_m = memoryview(_b)
_n = 0
_t0 = _t1 = time.ticks_ms()
print('hanmq capture: UART', board.UART_ID, 'RX pin', board.RX_PIN)
while True:
    if _w:
        _w.feed()
    _now = time.ticks_ms()
    if _n < len(_b) and _u.any():
        _k = _u.readinto(_m[_n:])
        if _k:
            if not _n:
                _t0 = _now
            _n += _k
            _t1 = _now
            continue
    if _n and (_n == len(_b) or time.ticks_diff(_now, _t1) >= %(gap_ms)d):
        print(time.ticks_diff(_now, _t0), binascii.hexlify(_m[:_n]).decode())
        _n = 0
    time.sleep_ms(10)
"""


def board_program(parity="E", gap_s=GAP_S):
    return BOARD_PROGRAM % {"parity": "0" if parity == "E" else "None",
                            "gap_ms": int(gap_s * 1000)}


def stamp(t):
    """Local time with tenths of a second: 2026-11-27T10:00:02.5"""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + ".%d" % int(t % 1 * 10)


class Recorder:
    """Writes bursts in the hex format and checks the frames as they complete."""

    def __init__(self, out, source, log=None):
        self.out = out
        self.log = log
        self.dec = Decoder(self._good, self._bad)
        self.bursts = 0
        self.bytes = 0
        self.start = None
        self.warned = False
        self._t = 0.0
        out.write("# hanmq capture: tools/capture.py, %s\n" % source)
        out.write("# started %s; decode with: python tools/decode.py FILE\n" % stamp(time.time()))
        out.flush()

    @property
    def frames(self):
        d = self.dec
        return d.good + d.bad_crc + d.bad_length

    def _say(self, text):
        if self.log:
            self.log("%s  %s" % (stamp(self._t)[11:], text))

    def _good(self, rd):
        m = fields.METER_MANUFACTURER
        maker = rd.text[m] + " " if rd.has[m] else ""
        self._say("frame %d: good, %slist %d" % (self.frames, maker, rd.list_no))

    def _bad(self, reason, offset):
        self._say("frame at byte %d: %s" % (offset, reason))
        d = self.dec
        if not self.warned and d.good == 0 and d.bad_crc + d.bad_length >= 4:
            self.warned = True
            if self.log:
                self.log("capture: checksum errors and no good frame yet: wrong parity? "
                         "Kamstrup sends 8N1 (--parity N), the others 8E1 (--parity E)")

    def burst(self, data, t):
        if self.start is None:
            self.start = t
        self._t = t
        self.bursts += 1
        self.bytes += len(data)
        self.out.write("# %s +%.1f s %d bytes\n%s\n" % (
            stamp(t), t - self.start, len(data), binascii.hexlify(data).decode()))
        self.out.flush()
        self.dec.feed(bytes(data))

    def close(self):
        d = self.dec
        summary = ("%d bursts, %d bytes; frames good %d, bad crc %d, bad length %d, "
                   "unknown layout %d" % (self.bursts, self.bytes, d.good, d.bad_crc,
                                          d.bad_length, d.unknown))
        self.out.write("# ended %s: %s\n" % (stamp(time.time()), summary))
        self.out.flush()
        return summary


def serial_bursts(port, parity="E", gap=GAP_S):
    """(time of first byte, bytes) per burst from a USB M-Bus adapter; (None, None)
    when the line has been silent for `gap` (lets the caller check its clock)."""
    import serial  # pyserial

    ser = serial.Serial(port, BAUD, bytesize=serial.EIGHTBITS, stopbits=serial.STOPBITS_ONE,
                        parity=serial.PARITY_EVEN if parity == "E" else serial.PARITY_NONE,
                        timeout=gap)
    try:
        burst, t0 = bytearray(), None
        while True:
            chunk = ser.read(ser.in_waiting or 1)
            if chunk:
                if not burst:
                    t0 = time.time()
                burst += chunk
                if len(burst) < 4096:
                    continue
            if burst:
                yield t0, bytes(burst)
                burst = bytearray()
            else:
                yield None, None
    finally:
        ser.close()


def parse_board_line(line, arrived):
    """(time of first byte, bytes) from a BOARD_PROGRAM line, or None for other text."""
    parts = line.strip().split(" ")
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    try:
        data = binascii.unhexlify(parts[1])
    except (binascii.Error, ValueError):
        return None
    return arrived - int(parts[0]) / 1000.0, data


def board_bursts(port, parity="E", gap=GAP_S, log=None):
    """Bursts read by the dongle itself, through its USB console (mpremote's serial
    transport, raw REPL). The board gets a soft reset at the end: the firmware restarts."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(port, baudrate=CONSOLE_BAUD)
    try:
        t.enter_raw_repl(soft_reset=False)  # Ctrl-C stops the running firmware
        t.exec_raw_no_follow(board_program(parity, gap))
        ser = t.serial
        ser.timeout = gap
        pending = b""
        while True:
            chunk = ser.read(ser.in_waiting or 1)
            if not chunk:
                yield None, None
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                text = line.decode("ascii", "replace").strip("\r\x04>")
                got = parse_board_line(text, time.time())
                if got:
                    yield got
                elif text and log:
                    log("board: " + text)  # the banner, or a traceback
    finally:
        try:
            t.serial.write(b"\x03\x03")  # stop the program
            time.sleep(0.2)
            t.exit_raw_repl()
            t.serial.write(b"\x04")  # soft reset in the friendly REPL: main.py runs again
            time.sleep(0.2)
        finally:
            t.close()


def record(bursts, recorder, seconds=None, frames=None, clock=time.monotonic):
    """Feed bursts to the recorder until the source ends, `seconds` pass or `frames`
    frames have been seen."""
    deadline = clock() + seconds if seconds else None
    for t, data in bursts:
        if data:
            recorder.burst(data, t)
        if frames and recorder.frames >= frames:
            break
        if deadline is not None and clock() >= deadline:
            break


def main(argv=None):
    ap = argparse.ArgumentParser(description="Record a meter's HAN port as hex.")
    ap.add_argument("port", nargs="?", default="", help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--parity", choices="EN", default="E",
                    help="E: 8E1 (Aidon, Kaifa, Landis+Gyr; default), N: 8N1 (Kamstrup)")
    ap.add_argument("--repl", action="store_true",
                    help="PORT is the dongle's USB console: read the meter through it")
    ap.add_argument("--out", default="-", help="file to write (default: stdout)")
    ap.add_argument("--seconds", type=float, help="stop after this many seconds")
    ap.add_argument("--frames", type=int, help="stop after this many frames")
    ap.add_argument("--gap", type=float, default=GAP_S, help="silence that ends a burst (s)")
    ap.add_argument("--print-board-program", action="store_true",
                    help="print the program --repl runs on the dongle, and exit")
    a = ap.parse_args(argv)
    if a.print_board_program:
        sys.stdout.write(board_program(a.parity, a.gap))
        return 0
    err = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        serialport.check(a.port)
    except serialport.PortError as e:
        err("capture: %s" % e)
        return 1
    if a.repl:
        source = "the dongle's UART through its console %s, %s" % (
            a.port, "8E1" if a.parity == "E" else "8N1")
        bursts = board_bursts(a.port, a.parity, a.gap, log=err)
    else:
        source = "%s at 2400 baud %s" % (a.port, "8E1" if a.parity == "E" else "8N1")
        bursts = serial_bursts(a.port, a.parity, a.gap)
    out = sys.stdout if a.out == "-" else open(a.out, "w")
    rec = Recorder(out, source, log=err)
    err("capture: recording %s%s; Ctrl-C to stop" % (
        source, "" if a.out == "-" else " into " + a.out))
    status = 0
    try:
        record(bursts, rec, a.seconds, a.frames)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # pyserial's SerialException, mpremote's TransportError
        if type(e).__name__ not in ("SerialException", "TransportError"):
            raise
        err("capture: %s stopped: %s (unplugged?)" % (a.port, e))
        status = 1
    finally:
        bursts.close()
        err("capture: " + rec.close())
        if out is not sys.stdout:
            out.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
