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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import broker as brokers  # noqa: E402
import build  # noqa: E402
import replay  # noqa: E402
import simboard  # noqa: E402

#: MicroPython heap of an ESP32 without PSRAM, as the firmware gets it.
ESP32_HEAP = "96k"


#: The ESP32-like VM (32-bit, float32, 2^30 ms ticks) next to the repository, where it
#: exists (development and CI); a fresh clone has only the 64-bit unix port from PyPI.
ESP32VM = os.path.join(os.path.dirname(ROOT), "shared", "esp32vm", "micropython")


def micropython(path=None):
    """The MicroPython binary firmware runs use: `path`, else $HANMQ_MICROPYTHON, else
    the ESP32-like VM where it exists, else the unix port of the virtual environment."""
    for exe in (path, os.environ.get("HANMQ_MICROPYTHON"), ESP32VM):
        if exe and os.access(exe, os.X_OK):
            return os.path.abspath(exe)
    exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else "micropython"


_BITS = {}


def is_32bit(exe):
    """True when the binary is a 32-bit VM (as an ESP32 is)."""
    if exe not in _BITS:
        out = subprocess.run([exe, "-c", "import sys; print(sys.maxsize)"],
                             capture_output=True, text=True, timeout=30)
        _BITS[exe] = out.stdout.strip() == str(2 ** 31 - 1)
    return _BITS[exe]


#: Bytes the simulated board's seam (tools/sim: hw, time and socket) takes in the heap
#: beyond what the board's own hw.py takes there, per VM width, in normal operation
#: connected (bench/seam.py measures both). The simulator gives the firmware that much
#: more heap, so it has the room it has on a board. The difference moves in steps of
#: a few KB as the interned-string pools double at other points; test_memory.py holds
#: this at or below the measurement (never more room than a board has).
SEAM_EXTRA = {32: 2560, 64: 3328}


def seam_extra(exe=None):
    return SEAM_EXTRA[32 if is_32bit(exe or micropython()) else 64]


def board_heap(exe=None):
    """The ESP32's heap on a 32-bit VM, WIDE_HEAP (the same room) on a 64-bit one, and
    the seam's extra on top."""
    exe = exe or micropython()
    heap = ESP32_HEAP if is_32bit(exe) else WIDE_HEAP
    return "%d" % (int(heap[:-1]) * 1024 + seam_extra(exe))


def module_path():
    """MICROPYPATH: the simulated board's seam (tools/sim: hw, time, socket) first, then
    the firmware, both precompiled as for a board (bytecode: compiling source at
    import would cost heap a board does not spend)."""
    out = os.path.join(ROOT, "build", "sim")
    build.build(out, None, log=None)
    seam = os.path.join(ROOT, "build", "sim-seam")
    for name in ("hw", "time", "socket", "board"):
        build.compile_one(os.path.join(HERE, "sim", name + ".py"), os.path.join(seam, name + ".mpy"))
    return ":".join([seam, out, ".frozen"])


#: The same room on the 64-bit unix port (the fallback where the ESP32-like VM is not
#: there): its objects take about 1.4 times the bytes of a 32-bit VM's (bench/README.md).
WIDE_HEAP = "136k"

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
    """The firmware in a micropython process on a simulated board (tools/simboard.py),
    its UART fed by a replayed meter."""

    def __init__(self, frames, host, port, node="a1b2c3", speed=None, heap=None,
                 workdir=None, bit_errors=0.0, noise=0, script=None, setup=False,
                 http_port=None, dns_port=None, config_file=None, scan=None, echo=False,
                 uart_wait=60, micropython_path=None, ticks_start=None, silence=0.0,
                 wire_errors=0.0, framing=None, home=None, broker_name=None, **config):
        """script(write): plays the meter instead of the default replay of `frames`
        (write: a simboard.Uart, its line model in front of the board's UART).
        host None: no settings are written (setup mode starts when config_file holds
        none); setup: the button is pressed at start-up (setup mode); http_port: the
        setup page, then the status page, on 127.0.0.1:http_port; dns_port: the setup
        DNS; scan: the Wi-Fi scan's networks [(ssid, rssi, security)]; echo: print the
        firmware's output as it comes; uart_wait: seconds the meter waits for the
        firmware to open its UART (None: for ever). Board: micropython_path (default
        micropython()), speed (the meter's and the board's clock), ticks_start,
        silence (board seconds before the meter's first byte), wire_errors (bit error
        rate on the meter's wire), framing ("E"/"N": the meter's; default from the
        frames), home ((ssid, password) of the network that exists; default: any),
        broker_name (the name the dongle is given for the broker at host:port: its
        lookups go through the board's DNS, which can be dead)."""
        self.frames = frames
        self.script = script
        self.node = node
        self.speed = speed
        self.heap = heap
        self.damage = dict(bit_errors=bit_errors, noise=noise)
        self.dir = workdir or tempfile.mkdtemp(prefix="hanmq-dongle-")
        self.config_file = os.path.abspath(config_file or os.path.join(self.dir, "config.json"))
        self.micropython = micropython(micropython_path)
        heap = heap or board_heap(self.micropython)
        self.uart_wait = uart_wait
        self.silence = silence
        self.summary = None
        self.setup = setup
        clock = 1.0 if speed is None else float(speed)
        env = dict(os.environ, MICROPYPATH=module_path(), HANMQ_NODE=node,
                   HANMQ_CONFIG=self.config_file,
                   HANMQ_SCAN=json.dumps(SCAN if scan is None else scan))
        env["HANMQ_SEAM_EXTRA"] = str(seam_extra(self.micropython))  # see status.budget()
        if ticks_start is not None:
            env["HANMQ_TICKS_START"] = str(ticks_start)
        if home is not None:
            env["HANMQ_HOME"] = "%s\n%s" % home
        if dns_port:
            env["HANMQ_DNS_PORT"] = str(dns_port)
        ports = []
        airs = []
        if host is not None:
            broker = self._broker_air(host, port, clock)
            name = broker_name or host
            if broker is not None:
                ports.append("%s:%d=%d" % (name, port, broker.port))
                airs.append(broker)
            with open(self.config_file, "w") as f:
                json.dump(dongle_config(name, port, **config), f)
        page = None
        if http_port:
            # the firmware listens on a port of its own; the page's port is its Air
            inside = brokers.free_port()
            page = simboard.Air(("127.0.0.1", inside), http_port, "page", clock)
            env["HANMQ_HTTP_PORT"] = str(http_port)
            ports.append("127.0.0.1:%d=%d" % (http_port, inside))
        env["HANMQ_PORT_MAP"] = ",".join(ports)
        self.page_air = page
        framing = framing or (simboard.meter_framing(frames) if frames else None)
        self.uart = simboard.Uart(simboard.Line(framing, wire_errors))
        cmd = [self.micropython, "-X", "heapsize=" + heap, os.path.join(HERE, "sim", "run.py")]
        self.board = simboard.Board(cmd, env, self.dir, self.uart, echo=echo, speed=clock)
        self.board.airs += airs + ([page] if page else [])
        self.board.station_airs += airs
        if page:
            self.board.ap_airs.append(page)
        if setup:
            self.board.on_boot = self._press_for_setup
        self.played = threading.Event()

    @staticmethod
    def _broker_air(host, port, speed):
        try:
            target = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1][:2]
        except OSError:
            return None  # a name that does not resolve: the firmware finds out itself
        return simboard.Air(target, name="broker", speed=speed)

    def _press_for_setup(self, boot):
        # the first start only: the button pressed (and let go) as the LED says it may
        if boot == 1:
            self.board.press()
            threading.Timer(1.0 / self.board.speed, self.board.release).start()

    @property
    def proc(self):
        return self.board.proc

    @property
    def lines(self):
        return self.board.lines

    @property
    def resets(self):
        return len(self.board.resets)

    def start(self):
        self.board.start()
        threading.Thread(target=self._meter, daemon=True).start()
        threading.Thread(target=self._summary, daemon=True).start()
        return self

    def _meter(self):
        try:
            if self.uart.opened.wait(self.uart_wait):
                if self.silence:
                    time.sleep(self.silence / self.board.speed)
                if self.script:
                    self.script(self.uart)
                else:
                    replay.play(self.frames, self.uart, speed=self.speed, **self.damage)
        except OSError:
            pass  # the firmware went away
        finally:
            self.uart.end()
            self.played.set()

    def _summary(self):
        self.board.wait()
        for line in self.board.lines:
            if line.startswith("hanmq: frames read"):
                self.summary = line[len("hanmq: ") :]

    def wait(self, timeout=None):
        """The firmware's exit status once it has stopped for good (restarts after a
        reset are followed); subprocess.TimeoutExpired if it runs on."""
        rc = self.board.wait(timeout)
        self.played.wait(5)
        self._summary()
        return rc

    def stop(self):
        self.board.stop()

    def output(self):
        return self.board.output()

    def wait_page(self, timeout=30.0):
        """Wait until the firmware serves its page (listens on its own port, behind the
        Air: the page's port itself takes connections from the start)."""
        deadline = time.monotonic() + timeout
        while not brokers.port_open("127.0.0.1", self.page_air.target[1]):
            if time.monotonic() > deadline:
                raise TimeoutError("the firmware serves no page:\n" + self.output()[-2000:])
            time.sleep(0.05)

    def wait_read(self, client, timeout=30.0):
        """Wait until the firmware has read all that `client` (a socket connected to
        http_port) sent it through the Air."""
        self.page_air.wait_read(client, timeout)


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


def board_options(a):
    return dict(micropython_path=a.micropython, ticks_start=a.ticks_start, silence=a.silence,
                wire_errors=a.wire_errors)


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
        echo=True, uart_wait=None, **board_options(a),
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
    ap.add_argument("--heap", help="MicroPython heap (default %s on a 32-bit VM, %s on the "
                    "64-bit unix port)" % (ESP32_HEAP, WIDE_HEAP))
    ap.add_argument("--node", default="a1b2c3", help="chip id in hex: the node is hanmq_<id>")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    ap.add_argument("--setup", action="store_true",
                    help="start in setup mode: setup page and DNS catch-all on 127.0.0.1")
    ap.add_argument("--config", metavar="PATH",
                    help="settings file; with valid settings and no --setup: the status page")
    ap.add_argument("--http-port", type=int, default=8080, help="setup/status page port (8080)")
    ap.add_argument("--dns-port", type=int, default=5353, help="setup DNS port (5353)")
    board = ap.add_argument_group("the simulated board (DESIGN.md 4, 9)")
    board.add_argument("--micropython", metavar="PATH",
                       help="MicroPython binary (default: the ESP32-like VM ../shared/esp32vm/"
                       "micropython where it exists, else the unix port of .venv)")
    board.add_argument("--ticks-start", type=int, metavar="MS",
                       help="the board's tick counter at start (it wraps at 2^30 ms)")
    board.add_argument("--silence", type=float, default=0.0, metavar="S",
                       help="board seconds the meter is silent before its first frame")
    board.add_argument("--wire-errors", type=float, default=0.0, metavar="P",
                       help="probability of a flipped bit on the meter's wire")
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
    exe = micropython(a.micropython)
    if not a.heap:
        a.heap = board_heap(exe)
        if a.heap != ESP32_HEAP and not a.quiet:
            print("simulate: heap %s: %s is 64-bit, its objects take more room than an "
                  "ESP32's" % (a.heap, exe))
    if serving:
        return serve(a, frames)
    host, port, embedded = brokers.use(a.broker)
    if embedded and not a.quiet:
        print("simulate: embedded %s broker on %s:%d" % (embedded.kind, host, port))
    dongle = SimulatedDongle(
        frames, host, port, node=a.node, heap=a.heap,
        speed=None if a.speed == "max" else float(a.speed), **board_options(a),
    ).start()
    rc = run_to_end(dongle, embedded)
    if not a.quiet:
        print(dongle.output())
    print(dongle.summary or "simulate: the firmware stopped (exit %s) before finishing" % rc)
    return 0 if rc == 0 and dongle.summary else 1


if __name__ == "__main__":
    sys.exit(main())
