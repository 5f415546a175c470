# replay.py: play recorded frames as a meter would, into a TCP socket, a pty, a
# serial port or stdout.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/replay.py --frames capture.hex --tcp 127.0.0.1:4059 [--speed 4]
#   python tools/replay.py --corpus host_tests/frames/corpus.jsonl --vendor Kaifa --pty
#   python tools/replay.py --frames capture.hex --serial /dev/ttyUSB0 --parity E
#
# Cadence follows the meter: list 1 every 2.5 s (Kaifa 2 s), lists 2 and 3 every 10 s,
# bytes paced at 2400 baud (8E1: 11 bits a byte). --speed X plays X times faster,
# --speed max as fast as the receiver takes it. --bit-errors and --noise damage the
# stream on purpose (seeded), to see the dongle count and skip bad frames.

import argparse
import json
import os
import random
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "shims"), os.path.join(HERE, "..", "firmware")]

from han.decoder import Decoder  # noqa: E402


def frames_from_hex(path):
    """One push per line of hex ('#' comments and spaces allowed)."""
    out = []
    with open(path) as f:
        for line in f:
            line = "".join(line.split("#", 1)[0].split())
            if line:
                out.append(bytes.fromhex(line))
    return out


def frames_from_corpus(path, vendor=None, country="NO", include_bad=False):
    out = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["format"] != "hdlc" or (r["crc_ok"] is False and not include_bad):
                continue
            if vendor and r["vendor"].lower() != vendor.lower():
                continue
            if country and r["country"] != country:
                continue
            out.append(bytes.fromhex(r["hex"]))
    return out


def _list_and_maker(frame):
    got = []
    Decoder(lambda rd: got.append((rd.list_no, rd.text[1] if rd.has[1] else None))).feed(frame)
    return got[0] if got else (None, None)


def frame_maker(frame):
    """The meter's maker as the firmware's decoder finds it, or None."""
    return _list_and_maker(frame)[1]


def push_interval(frame):
    """Seconds until the meter's next push after this frame (protocol.md 1.4)."""
    list_no, maker = _list_and_maker(frame)
    if list_no is None:
        return 10.0
    if list_no == 1:
        return 2.0 if maker == "Kaifa" else 2.5
    return 10.0


def damage(frame, rng, bit_errors, noise):
    if bit_errors and rng.random() < bit_errors:
        b = bytearray(frame)
        i = rng.randrange(1, len(b) - 1)
        b[i] ^= 1 << rng.randrange(8)
        frame = bytes(b)
    if noise and rng.random() < 0.5:
        frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, noise + 1))) + frame
    return frame


def play(frames, write, speed=1.0, loops=1, bit_errors=0.0, noise=0, seed=1, on_push=None):
    """Write the frames with the meter's cadence. speed=None: as fast as possible.
    Each frame is one burst on the wire: where `write` has a chunk() method (a
    simboard.Uart), the parts of a paced frame but its last go through it."""
    rng = random.Random(seed)
    byte_time = 11 / 2400.0
    more = getattr(write, "chunk", write)
    note = getattr(write, "frame", None)
    for _ in range(loops):
        for frame in frames:
            start = time.monotonic()
            if note:
                note(frame)
            data = damage(frame, rng, bit_errors, noise)
            if speed is None:
                write(data)
            else:  # pace the bytes as the wire would, 32 at a time
                for i in range(0, len(data), 32):
                    (write if i + 32 >= len(data) else more)(data[i : i + 32])
                    time.sleep(32 * byte_time / speed)
            if on_push:
                on_push(frame)
            if speed is not None:
                left = push_interval(frame) / speed - (time.monotonic() - start)
                if left > 0:
                    time.sleep(left)


def serve_tcp(host, port, frames, **kw):
    """Listen, wait for one client (the dongle's UART), play, then close."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    conn, _ = srv.accept()
    srv.close()
    try:
        play(frames, conn.sendall, **kw)
    finally:
        conn.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Play recorded HAN frames as a meter would.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="hex file, one frame (push) per line")
    src.add_argument("--corpus", help="corpus.jsonl of recorded frames")
    ap.add_argument("--vendor", help="with --corpus: Aidon, Kaifa, Kamstrup or Landis+Gyr")
    ap.add_argument("--country", default="NO", help="with --corpus (default NO)")
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("--tcp", metavar="HOST:PORT", help="serve one TCP client")
    out.add_argument("--pty", action="store_true", help="make a pty and print its name")
    out.add_argument("--serial", metavar="PORT", help="a serial port (pyserial)")
    out.add_argument("--stdout", action="store_true", help="write the bytes to stdout")
    ap.add_argument("--parity", choices="EN", default="E", help="with --serial: E (8E1) or N (8N1)")
    ap.add_argument("--speed", default="1", help="times real time, or 'max'")
    ap.add_argument("--loop", type=int, default=1, help="play the frames this many times")
    ap.add_argument("--bit-errors", type=float, default=0.0, help="share of frames with a flipped bit")
    ap.add_argument("--noise", type=int, default=0, help="up to N random bytes before frames")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    frames = frames_from_hex(a.frames) if a.frames else frames_from_corpus(a.corpus, a.vendor, a.country)
    if not frames:
        ap.error("no frames to play")
    kw = dict(
        speed=None if a.speed == "max" else float(a.speed),
        loops=a.loop,
        bit_errors=a.bit_errors,
        noise=a.noise,
        seed=a.seed,
    )
    if a.tcp:
        host, port = a.tcp.rsplit(":", 1)
        print("replay: waiting for a client on %s:%s" % (host, port), file=sys.stderr)
        serve_tcp(host, int(port), frames, **kw)
    elif a.pty:
        master, slave = os.openpty()
        print(os.ttyname(slave), flush=True)
        play(frames, lambda b: os.write(master, b), **kw)
    elif a.serial:
        import serial  # pyserial

        port = serial.Serial(
            a.serial, 2400, bytesize=8, parity=serial.PARITY_EVEN if a.parity == "E" else serial.PARITY_NONE,
            stopbits=1,
        )
        play(frames, port.write, **kw)
        port.flush()
    else:
        play(frames, sys.stdout.buffer.write, **kw)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
