# simulate.py: run the whole dongle on this computer.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/simulate.py --frames FILE [--broker HOST:PORT] [--speed X] [--heap SIZE]
#   python tools/simulate.py --corpus host_tests/frames/corpus.jsonl --vendor Kamstrup
#
# The unchanged firmware runs under the MicroPython unix port (micropython -X
# heapsize=SIZE, default the ESP32's budget), with tools/sim/hw.py as its hardware
# seam: its UART is a TCP connection to a replayed meter (tools/replay.py), played at
# the meter's cadence or X times faster (--speed max: as fast as the UART takes it).
# It publishes to the broker given, or to an embedded one started here. It exits when
# the frames are played and the outbox is drained, with a one-line summary.

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import broker as brokers  # noqa: E402
import build  # noqa: E402
import replay  # noqa: E402

#: MicroPython heap of an ESP32 without PSRAM, as the firmware gets it.
ESP32_HEAP = "96k"


def micropython():
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


def module_path():
    """MICROPYPATH: the host seam first, then the firmware precompiled as for a board
    (bytecode: compiling source at import would cost heap a board does not spend)."""
    out = os.path.join(ROOT, "build", "sim")
    build.build(out, None, log=None)
    return ":".join([os.path.join(HERE, "sim"), out, ".frozen"])


def dongle_config(host, port, **over):
    cfg = {
        "v": 1,
        "wifi_ssid": "simulated",
        "wifi_password": "simulated-wifi",
        "mqtt_host": host,
        "mqtt_port": port,
        "admin_password": "simulated-admin",
        "watchdog": True,
    }
    cfg.update(over)
    return cfg


class SimulatedDongle:
    """The firmware in a micropython process, fed by a replayed meter over TCP."""

    def __init__(self, frames, host, port, node="a1b2c3", speed=None, heap=ESP32_HEAP,
                 workdir=None, bit_errors=0.0, noise=0, script=None, **config):
        """script(write): plays the meter instead of the default replay of `frames`."""
        self.frames = frames
        self.script = script
        self.node = node
        self.speed = speed
        self.heap = heap
        self.damage = dict(bit_errors=bit_errors, noise=noise)
        self.dir = workdir or tempfile.mkdtemp(prefix="hanmq-dongle-")
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(dongle_config(host, port, **config), f)
        self.proc = None
        self.lines = []
        self.summary = None
        self.played = threading.Event()

    def start(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        uart = "127.0.0.1:%d" % srv.getsockname()[1]
        threading.Thread(target=self._play, args=(srv,), daemon=True).start()
        env = dict(os.environ, MICROPYPATH=module_path(), HANMQ_UART=uart, HANMQ_NODE=self.node)
        self.proc = subprocess.Popen(
            [micropython(), "-X", "heapsize=" + self.heap, os.path.join(HERE, "sim", "run.py")],
            cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        return self

    def _play(self, srv):
        srv.settimeout(60)
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        finally:
            srv.close()
        try:
            if self.script:
                self.script(conn.sendall)
            else:
                replay.play(self.frames, conn.sendall, speed=self.speed, **self.damage)
        except OSError:
            pass  # the firmware went away
        finally:
            conn.close()
            self.played.set()

    def _read_output(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("hanmq: frames read"):
                self.summary = line[len("hanmq: ") :]

    def wait(self, timeout=None):
        try:
            return self.proc.wait(timeout)
        finally:
            self.played.wait(5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        return "\n".join(self.lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the unchanged firmware against a replayed meter.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="hex file, one frame per line (tools/decode.py format)")
    src.add_argument("--corpus", help="corpus.jsonl; pick frames with --vendor")
    ap.add_argument("--vendor", help="Aidon, Kaifa, Kamstrup or Landis+Gyr")
    ap.add_argument("--broker", metavar="HOST:PORT", help="default: start an embedded broker")
    ap.add_argument("--speed", default="1", help="times real time, or 'max' (default 1)")
    ap.add_argument("--heap", default=ESP32_HEAP, help="MicroPython heap (default %s)" % ESP32_HEAP)
    ap.add_argument("--node", default="a1b2c3", help="chip id in hex: the node is hanmq_<id>")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    a = ap.parse_args(argv)
    frames = (
        replay.frames_from_hex(a.frames) if a.frames else replay.frames_from_corpus(a.corpus, a.vendor)
    )
    if not frames:
        ap.error("no frames")
    host, port, embedded = brokers.use(a.broker)
    if embedded and not a.quiet:
        print("simulate: embedded %s broker on %s:%d" % (embedded.kind, host, port))
    dongle = SimulatedDongle(
        frames, host, port, node=a.node, heap=a.heap,
        speed=None if a.speed == "max" else float(a.speed),
    ).start()
    try:
        rc = dongle.wait()
    except KeyboardInterrupt:
        rc = 130
    finally:
        dongle.stop()
        if embedded:
            embedded.stop()
    if not a.quiet:
        print(dongle.output())
    print(dongle.summary or "simulate: the firmware stopped (exit %s) before finishing" % rc)
    return 0 if rc == 0 and dongle.summary else 1


if __name__ == "__main__":
    sys.exit(main())
