# simulate.py: run the whole dongle on this computer.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/simulate.py --frames FILE [--broker HOST:PORT] [--speed X] [--heap SIZE]
#   python tools/simulate.py --corpus host_tests/frames/corpus.jsonl --vendor Kamstrup
#   python tools/simulate.py --setup [--config PATH] [--http-port N] [--dns-port M]
#   python tools/simulate.py --config PATH [--http-port N] [--frames FILE]
#
# The unchanged firmware runs under the MicroPython unix port (micropython -X
# heapsize=SIZE, default the ESP32's budget), with tools/sim/hw.py as its hardware
# seam: its UART is a TCP connection to a replayed meter (tools/replay.py), played at
# the meter's cadence or X times faster (--speed max: as fast as the UART takes it).
# It publishes to the broker given, or to an embedded one started here. It exits when
# the frames are played and the outbox is drained, with a one-line summary.
#
# With --setup the firmware starts in setup mode (the button held at power-up): the
# setup page on http://127.0.0.1:N/ and the catch-all DNS on 127.0.0.1:M (the access
# point is simulated), saving to PATH; after a save it goes on into normal operation.
# With a valid --config instead, it starts normally and serves the status page on the
# same port. Both run until Ctrl-C. Whenever the firmware resets itself (after saving
# settings) it is started again, as a board reboots.

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


#: Heap for trying the pages: the status page needs more than the ESP32's budget
#: leaves on the 64-bit unix port (setup mode fits in ESP32_HEAP).
PAGES_HEAP = "128k"

#: What the simulated Wi-Fi scan finds unless told otherwise: a mesh network seen
#: twice, a hidden one, an open one, and a name that needs escaping in HTML.
#: (ssid, RSSI in dBm, security: 0 open)
SCAN = (
    ("Hjemme", -48, 3),
    ("Telenor2341ab", -63, 3),
    ("Hjemme", -71, 3),
    ("", -55, 3),
    ("Get-2G-5A1F", -80, 4),
    ("NTNU-guest", -86, 0),
    ("Kaf\u00e9 <\"Ol'&>", -90, 0),
)

#: Exit status of the firmware's simulated reset (tools/sim/hw.py RESET_EXIT).
RESET_EXIT = 75


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
                 workdir=None, bit_errors=0.0, noise=0, script=None, setup=False,
                 http_port=None, dns_port=None, config_file=None, scan=None, echo=False,
                 uart_wait=60, **config):
        """script(write): plays the meter instead of the default replay of `frames`.
        host None: no settings are written (setup mode starts when config_file holds
        none); setup: the setup button is held at power-up; http_port: the setup page,
        then the status page, on 127.0.0.1:http_port; dns_port: the setup DNS; scan:
        the Wi-Fi scan's networks [(ssid, rssi, security)]; echo: print the firmware's
        output as it comes; uart_wait: seconds the meter waits for the firmware to
        open its UART (None: for ever)."""
        self.frames = frames
        self.script = script
        self.node = node
        self.speed = speed
        self.heap = heap
        self.damage = dict(bit_errors=bit_errors, noise=noise)
        self.dir = workdir or tempfile.mkdtemp(prefix="hanmq-dongle-")
        self.config_file = os.path.abspath(config_file or os.path.join(self.dir, "config.json"))
        if host is not None:
            with open(self.config_file, "w") as f:
                json.dump(dongle_config(host, port, **config), f)
        self.env = {"HANMQ_CONFIG": self.config_file}
        if setup:
            self.env["HANMQ_BUTTON"] = "1"
        if http_port:
            self.env["HANMQ_HTTP_PORT"] = str(http_port)
        if dns_port:
            self.env["HANMQ_DNS_PORT"] = str(dns_port)
        self.env["HANMQ_SCAN"] = json.dumps(SCAN if scan is None else scan)
        self.echo = echo
        self.uart_wait = uart_wait
        self.proc = None
        self.lines = []
        self.summary = None
        self.resets = 0  # restarts after the firmware's (simulated) reset
        self.played = threading.Event()
        self._done = threading.Event()
        self._stopped = False

    def start(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        uart = "127.0.0.1:%d" % srv.getsockname()[1]
        threading.Thread(target=self._play, args=(srv,), daemon=True).start()
        self._env = dict(os.environ, MICROPYPATH=module_path(), HANMQ_UART=uart, HANMQ_NODE=self.node)
        self._env.update(self.env)
        self._launch()
        threading.Thread(target=self._read_output, daemon=True).start()
        return self

    def _launch(self):
        self.proc = subprocess.Popen(
            [micropython(), "-X", "heapsize=" + self.heap, os.path.join(HERE, "sim", "run.py")],
            cwd=self.dir, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def _play(self, srv):
        # Every start of the firmware opens the UART anew: the meter plays to each.
        srv.settimeout(self.uart_wait)
        try:
            while not self._stopped:
                conn, _ = srv.accept()
                threading.Thread(target=self._meter, args=(conn,), daemon=True).start()
        except OSError:
            pass
        finally:
            srv.close()

    def _meter(self, conn):
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
        while True:
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                self.lines.append(line)
                if self.echo:
                    print(line, flush=True)
                if line.startswith("hanmq: frames read"):
                    self.summary = line[len("hanmq: ") :]
            if self.proc.wait() != RESET_EXIT or self._stopped:
                break
            # hw.reset(): start again, as a board reboots (the button is not held now)
            self.resets += 1
            self._env.pop("HANMQ_BUTTON", None)
            self._launch()
        self._done.set()

    def wait(self, timeout=None):
        """The firmware's exit status once it has stopped for good (restarts after a
        reset are followed); subprocess.TimeoutExpired if it runs on."""
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("micropython", timeout)
        self.played.wait(5)
        return self.proc.returncode

    def stop(self):
        self._stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._done.wait(5)

    def output(self):
        return "\n".join(self.lines)


def run_to_end(dongle, embedded=None, meter_done=None):
    """Wait for the firmware to finish (or Ctrl-C: 130), then stop everything started."""
    try:
        rc = dongle.wait()
    except KeyboardInterrupt:
        rc = 130
    finally:
        if meter_done is not None:
            meter_done.set()
        dongle.stop()
        if embedded:
            embedded.stop()
    return rc


def serve(a, frames):
    """--setup / --config: run the firmware with its pages on loopback until Ctrl-C,
    starting it again after each (simulated) reset."""
    config_file = os.path.abspath(a.config or os.path.join(
        tempfile.mkdtemp(prefix="hanmq-setup-"), "config.json"))
    embedded = None
    if not a.broker:
        embedded = brokers.Broker().start()
        print("simulate: embedded %s broker on %s:%d (enter it as the MQTT broker)"
              % (embedded.kind, embedded.host, embedded.port))
    print("simulate: settings in %s" % config_file)
    print("simulate: pages on http://127.0.0.1:%d/, DNS on 127.0.0.1:%d (udp)"
          % (a.http_port, a.dns_port))
    speed = None if a.speed == "max" else float(a.speed)
    forever = threading.Event()

    def meter(write):  # the recorded frames (if any), then a silent meter
        if frames:
            replay.play(frames, write, speed=speed)
        forever.wait()

    dongle = SimulatedDongle(
        [], None, None, node=a.node, heap=a.heap, script=meter, setup=a.setup,
        http_port=a.http_port, dns_port=a.dns_port, config_file=config_file,
        echo=True, uart_wait=None,
    ).start()
    rc = run_to_end(dongle, embedded, forever)
    return 0 if rc in (0, 130) else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the unchanged firmware against a replayed meter.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--frames", help="hex file, one frame per line (tools/decode.py format)")
    src.add_argument("--corpus", help="corpus.jsonl; pick frames with --vendor")
    ap.add_argument("--vendor", help="Aidon, Kaifa, Kamstrup or Landis+Gyr")
    ap.add_argument("--broker", metavar="HOST:PORT", help="default: start an embedded broker")
    ap.add_argument("--speed", default="1", help="times real time, or 'max' (default 1)")
    ap.add_argument("--heap", help="MicroPython heap (default %s; %s with --setup/--config)"
                    % (ESP32_HEAP, PAGES_HEAP))
    ap.add_argument("--node", default="a1b2c3", help="chip id in hex: the node is hanmq_<id>")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    ap.add_argument("--setup", action="store_true",
                    help="start in setup mode: setup page and DNS catch-all on 127.0.0.1")
    ap.add_argument("--config", metavar="PATH",
                    help="settings file; with valid settings and no --setup: the status page")
    ap.add_argument("--http-port", type=int, default=8080, help="setup/status page port (8080)")
    ap.add_argument("--dns-port", type=int, default=5353, help="setup DNS port (5353)")
    a = ap.parse_args(argv)
    serving = a.setup or a.config
    if not serving and not (a.frames or a.corpus):
        ap.error("one of --frames, --corpus, --setup or --config is required")
    frames = []
    if a.frames or a.corpus:
        frames = (
            replay.frames_from_hex(a.frames) if a.frames else replay.frames_from_corpus(a.corpus, a.vendor)
        )
        if not frames:
            ap.error("no frames")
    if serving:
        if not a.heap:
            a.heap = PAGES_HEAP
            print("simulate: heap %s: at %s this 64-bit port has no room for the status page"
                  % (PAGES_HEAP, ESP32_HEAP))
        return serve(a, frames)
    a.heap = a.heap or ESP32_HEAP
    host, port, embedded = brokers.use(a.broker)
    if embedded and not a.quiet:
        print("simulate: embedded %s broker on %s:%d" % (embedded.kind, host, port))
    dongle = SimulatedDongle(
        frames, host, port, node=a.node, heap=a.heap,
        speed=None if a.speed == "max" else float(a.speed),
    ).start()
    rc = run_to_end(dongle, embedded)
    if not a.quiet:
        print(dongle.output())
    print(dongle.summary or "simulate: the firmware stopped (exit %s) before finishing" % rc)
    return 0 if rc == 0 and dongle.summary else 1


if __name__ == "__main__":
    sys.exit(main())
