# simboard.py: the host half of a simulated board (tools/sim/ is the firmware's half).
# MIT license; Copyright (c) 2026 hanmq
#
# What an ESP32 board does that the host does not (DESIGN.md 9), modelled here:
#
#   Line     the wire from the meter to the UART, bit by bit: the meter's framing
#            (8E1, Kamstrup 8N1) read by a UART set to the parity the firmware chose,
#            with bit errors if asked. Bytes with parity or framing errors are kept,
#            as the ESP32's driver keeps them.
#   Uart     the driver's receive buffer: 4 KB (hw.RXBUF) plus the 128-byte FIFO; what
#            arrives while it is full is lost and counted. With a loopback wire (the
#            self-test's), what the board writes out of its TX pin comes back, framed
#            as the UART sends it.
#   Air      the radio between the board and the world for one TCP service: it delays
#            what crosses it, holds it while the network is down (connections stay
#            open), and loses what is still queued when the board resets or closes its
#            access point.
#   Board    the rest: the control line (watchdog, reset, access point, hostname), the
#            button (held at reset: ROM download mode, the firmware never runs), the
#            station's network and the DNS server, and the firmware process itself,
#            started again after every reset.

import os
import random
import select
import socket
import struct
import subprocess
import threading
import time

#: The driver's receive buffer (firmware/hw.py RXBUF) plus the UART's hardware FIFO.
UART_CAPACITY = 4096 + 128
#: What crossing the radio takes, each way (board seconds).
AIR_DELAY = 0.03
#: Board seconds a network drop may last with the board's TCP connections surviving
#: it: longer, and the peer has given up on them (a broker's keepalive, TCP's
#: retransmissions): what was written meanwhile is lost.
AIR_KEEP_S = 20


# -- the meter's wire ------------------------------------------------------------------


def _frame_bits(byte, parity):
    """One character on the wire: start bit, 8 data bits LSB first, even parity
    (parity "E"), stop bit."""
    bits = [0] + [(byte >> i) & 1 for i in range(8)]
    if parity == "E":
        bits.append(sum(bits[1:9]) & 1)
    bits.append(1)
    return bits


class Line:
    """The meter's characters as a UART set to `receiver` parity reads them. The meter
    sends `meter` framing ("E": 8E1, "N": 8N1; None: judged by the Uart from the first
    frame), characters back to back within a burst, the line idle (1) between bursts.
    bit_errors: probability that a bit on the wire is flipped."""

    def __init__(self, meter=None, bit_errors=0.0, seed=1):
        self.meter = meter
        self.receiver = "E"
        self.bit_errors = bit_errors
        self.rng = random.Random(seed)
        self.parity_errors = 0
        self.framing_errors = 0
        self._bits = []  # received bits not yet taken by a character

    def receive(self, data, burst_ends=True):
        """The bytes the UART gets for `data` sent by the meter; burst_ends: the line
        goes idle after it (a frame's end), else the next call continues the burst."""
        bits = self._bits
        new = len(bits)
        for b in data:
            bits += _frame_bits(b, self.meter)
        if self.bit_errors:
            for i in range(new, len(bits)):
                if self.rng.random() < self.bit_errors:
                    bits[i] ^= 1
        if burst_ends:
            bits += [1] * 12  # idle: a character begun inside the burst completes
        out = bytearray()
        need = 11 if self.receiver == "E" else 10
        i = 0
        while True:
            while i < len(bits) and bits[i] == 1:  # hunt for a start bit
                i += 1
            if len(bits) - i < need:
                break
            value = 0
            for k in range(8):
                value |= bits[i + 1 + k] << k
            if self.receiver == "E" and (sum(bits[i + 1 : i + 10]) & 1):
                self.parity_errors += 1
            if bits[i + need - 1] != 1:
                self.framing_errors += 1
            out.append(value)
            i += need
        self._bits = [] if burst_ends else bits[i:]
        return bytes(out)


def meter_framing(frames):
    """"N" for a Kamstrup meter (8N1), else "E" (protocol.md 1.3), judged from the
    frames by the firmware's own decoder."""
    from replay import frame_maker

    for f in frames:
        maker = frame_maker(f)
        if maker:
            return "N" if maker == "Kamstrup" else "E"
    return "E"


class Uart:
    """The board's UART receive side, fed by the meter through a Line. write() is what
    the meter's scripts call; it delivers what the driver keeps. loopback: a wire from
    the board's TX pin to its RX pin (tools/selftest.py): the bytes the board writes
    come back through a Line of their own, sent and read with the UART's parity."""

    def __init__(self, line, loopback=False):
        self.line = line
        self.loopback = loopback
        self.written = bytearray()  # every byte the board wrote out of its TX pin
        self.sock = None
        self.lock = threading.Lock()
        self.held = 0  # bytes in the driver's buffer (sent, not yet read by the firmware)
        self.lost = 0  # bytes that found the buffer full
        self.delivered = 0
        self.parity_sets = []  # every parity the firmware chose, in order
        self.last_read = None  # monotonic time of the firmware's last read
        self.longest_wait = 0.0  # longest time bytes waited unread in the buffer (real s)
        self.opened = threading.Event()
        self.ended = False

    def attach(self, sock):
        """A (re)started firmware opened the UART: a fresh driver buffer."""
        with self.lock:
            self.sock = sock
            self.held = 0
            if self.ended:
                _end(sock)
        threading.Thread(target=self._records, args=(sock,), daemon=True).start()

    def end(self):
        """The meter has finished (a host run): the UART reads end of input, now and at
        every later start, so the firmware finishes its run."""
        with self.lock:
            self.ended = True
            if self.sock is not None:
                _end(self.sock)

    def _records(self, sock):
        # the firmware's reports: "p" + parity (0 even, 1 none), "r" + count read,
        # "w" + a byte written
        buf = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            out = bytearray()
            while len(buf) >= 3:
                kind, value = buf[0], buf[1] | buf[2] << 8
                buf = buf[3:]
                if kind == ord("w"):
                    out.append(value & 0xFF)
                    continue
                if out:  # written before this record (a new parity, say)
                    self._wrote(bytes(out))
                    out = bytearray()
                with self.lock:
                    if kind == ord("p"):
                        self.line.receiver = "E" if value == 0 else "N"
                        self.parity_sets.append(self.line.receiver)
                        self.opened.set()
                    elif kind == ord("r"):
                        now = time.monotonic()
                        if self.held and self.last_read is not None:
                            self.longest_wait = max(self.longest_wait, now - self.last_read)
                        self.held = max(0, self.held - value)
                        self.last_read = now
            if out:
                self._wrote(bytes(out))

    def _wrote(self, data):
        self.written += data
        if self.loopback:
            wire = Line(self.line.receiver)  # the board's own framing, read by itself
            wire.receiver = self.line.receiver
            self._through(wire, data, True)

    def __call__(self, data):
        self._send(data, True)

    def chunk(self, data):
        """Part of a burst that goes on (replay.play paces a frame in chunks)."""
        self._send(data, False)

    def frame(self, frame):
        """The meter is about to send this frame (replay.play says so before pacing
        it): a meter of unknown framing is judged by its first frame."""
        if self.line.meter is None:
            self.line.meter = meter_framing([frame])

    def _send(self, data, burst_ends):
        if self.line.meter is None:
            self.frame(data)  # a whole frame, written at once by a script
        self._through(self.line, data, burst_ends)

    def _through(self, line, data, burst_ends):
        with self.lock:
            got = line.receive(data, burst_ends)
            room = UART_CAPACITY - self.held
            if len(got) > room:
                self.lost += len(got) - room
                got = got[: max(0, room)]
            if not self.held:
                self.last_read = time.monotonic()  # waiting starts now
            self.held += len(got)
            sock = self.sock
        if got and sock is not None:
            try:
                sock.sendall(got)
                self.delivered += len(got)
            except OSError:
                self.lost += len(got)  # the board is resetting


def _end(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def wait_read(server_port, client_port, timeout=30.0):
    """Wait until the server on server_port has read everything the connection from
    client_port sent it: on Linux, the server's side of it in /proc/net/tcp has an
    empty receive queue. (From outside, the only way to know a request is under way at
    the server, not still waiting in the kernel.)"""
    me, server = ":%04X" % client_port, ":%04X" % server_port
    deadline = time.monotonic() + timeout
    while True:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()  # sl, local, remote, state, tx_queue:rx_queue, ...
                if fields[1].endswith(server) and fields[2].endswith(me):
                    if int(fields[4].split(":")[1], 16) == 0:
                        return
                    break
        if time.monotonic() > deadline:
            raise TimeoutError("the server on %d has not read what was sent" % server_port)
        time.sleep(0.02)


# -- the radio ---------------------------------------------------------------------------


def _abort(s):
    """Close with RST: what the kernel still holds for it is thrown away."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


class Air:
    """One TCP service across the simulated radio. listen: the port outside clients
    use; target: where their connections go ((host, port)). Between the two, every
    chunk waits AIR_DELAY board seconds (speed: the board clock's), and nothing crosses
    while up() is False (a Wi-Fi drop: the
    connections stay open, what is sent waits). drop() loses what is still queued and
    resets every connection (the board reset, or closed its access point)."""

    def __init__(self, target, listen_port=0, name="air", speed=1.0):
        self.target = target
        self.delay = AIR_DELAY / speed  # real seconds
        self.name = name
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", listen_port))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.up = True
        self.lock = threading.Lock()
        self.links = []  # [outside socket, inside socket, queue out->in, queue in->out]
        self.dropped_bytes = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._pump, daemon=True).start()

    def set_up(self, up):
        self.up = up

    def _accept(self):
        while not self._stop:
            try:
                outside, _ = self.srv.accept()
            except OSError:
                return
            if not self.up:
                _abort(outside)  # no route while the network is down
                continue
            try:
                inside = socket.create_connection(self.target, timeout=5)
            except OSError:
                _abort(outside)
                continue
            for s in (outside, inside):
                s.setblocking(False)
            with self.lock:
                self.links.append([outside, inside, [], [], 0, 0])

    def _link_of(self, client, timeout):
        me = client.getsockname()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for link in self.links:
                    try:
                        if link[0].getpeername() == me:
                            return link
                    except OSError:
                        pass
            time.sleep(0.01)
        raise TimeoutError("%s: no link for %r" % (self.name, me))

    def wait_read(self, client, timeout=30.0):
        """Wait until the server behind this Air has read everything `client` (an
        outside socket) sent: the Air has taken it, passed it on, and the server's
        side of the inside connection has nothing left unread."""
        wait_read(self.port, client.getsockname()[1], timeout)
        link = self._link_of(client, timeout)
        deadline = time.monotonic() + timeout
        while link[2]:
            if time.monotonic() > deadline:
                raise TimeoutError("%s: not passed on" % self.name)
            time.sleep(0.01)
        wait_read(self.target[1], link[1].getsockname()[1], timeout)

    def drop(self):
        with self.lock:
            links, self.links = self.links, []
        for link in links:
            self.dropped_bytes += sum(len(d) for _, d in link[2] + link[3])
            for s in link[:2]:
                _abort(s)

    def close(self):
        self._stop = True
        self.srv.close()
        self.drop()

    def _pump(self):
        # one thread moves every link's data both ways, each chunk after AIR_DELAY
        while not self._stop:
            with self.lock:
                links = list(self.links)
            socks = [s for link in links for i, s in enumerate(link[:2]) if not link[4 + i]]
            due = [q[0][0] for link in links for q in link[2:4] if q]
            wait = 0.005
            if due and self.up:
                wait = max(0.0, min(wait, min(due) - time.monotonic()))
            if socks:
                try:
                    ready, _, _ = select.select(socks, [], [], wait)
                except (OSError, ValueError):
                    ready = []
            else:
                time.sleep(wait)
                ready = []
            now = time.monotonic()
            for link in links:
                for i in (0, 1):  # 0: outside -> inside (queue 2), 1: inside -> outside (3)
                    src, q = link[i], link[2 + i]
                    if src in ready:
                        try:
                            data = src.recv(65536)
                        except OSError:
                            data = b""
                        if data:
                            q.append((now + self.delay, data))
                        else:
                            link[4 + i] = 1  # EOF: passed on once the queue is empty
                    if not self.up:
                        continue
                    dst = link[1 - i]
                    while q and q[0][0] <= now:
                        try:
                            n = dst.send(q[0][1])
                        except BlockingIOError:
                            break
                        except OSError:
                            q.clear()
                            break
                        if n < len(q[0][1]):
                            q[0] = (q[0][0], q[0][1][n:])
                            break
                        q.pop(0)
                    if link[4 + i] == 1 and not q:
                        link[4 + i] = 2  # passed on
                        try:
                            dst.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                if link[4] and link[5] and not link[2] and not link[3]:
                    with self.lock:
                        if link in self.links:
                            self.links.remove(link)
                    for s in link[:2]:
                        s.close()


# -- the board ---------------------------------------------------------------------------


class Board:
    """The board around the firmware process: starts it (cmd, env), serves its UART
    and control lines, resets it when it asks or its watchdog expires (killed at once,
    started again, its Airs dropped), and keeps what a test may look at: `lines` (its
    output, every boot), `boots`, `resets` (reasons), `hostnames`, `download_mode`."""

    def __init__(self, cmd, env, cwd, uart, echo=False, speed=1.0):
        self.cmd = cmd
        self.env = dict(env)
        self.cwd = cwd
        self.uart = uart
        self.echo = echo
        self.speed = speed
        self.airs = []  # every Air: dropped at each reset
        self.ap_airs = []  # those that serve the access point: dropped when it closes
        self.station_airs = []  # those that need the station's network
        self.lines = []
        self.boots = 0
        self.resets = []  # why each reset happened: "asked", "watchdog"
        self.hostnames = []
        self.wifi_calls = []  # the firmware's station connect()/disconnect() calls
        self.download_mode = False
        self.proc = None
        self.wifi_up = True
        self._down_at = None
        self.button_down = False
        self.dns_is_dead = False
        self.wdt_ms = 0
        self.on_boot = None  # on_boot(boot number), once the firmware has started
        self._last_ctl = None
        self._ctl = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stopped = False
        self._ctl_srv = self._listen()
        self._uart_srv = self._listen()
        self.env["HANMQ_CTL"] = "127.0.0.1:%d" % self._ctl_srv.getsockname()[1]
        self.env["HANMQ_UART"] = "127.0.0.1:%d" % self._uart_srv.getsockname()[1]
        self.env["HANMQ_SPEED"] = "%g" % speed
        threading.Thread(target=self._serve_ctl, daemon=True).start()
        threading.Thread(target=self._serve_uart, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    @staticmethod
    def _listen():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        return s

    # -- what a test does to the board ---------------------------------------------------

    def start(self):
        self._launch()
        return self

    def set_wifi(self, up):
        """The station's network in reach or not (the access point is not affected).
        Back after more than AIR_KEEP_S board seconds, the connections that were open
        are gone, with what they held."""
        if up and not self.wifi_up and self._down_at is not None:
            if (time.monotonic() - self._down_at) * self.speed > AIR_KEEP_S:
                for air in self.station_airs:
                    air.drop()
        self._down_at = None if up else time.monotonic()
        self.wifi_up = up
        for air in self.station_airs:
            air.set_up(up)
        self._send(b"W" if up else b"w")

    def press(self):
        self.button_down = True
        self._send(b"B")

    def release(self):
        self.button_down = False
        self._send(b"b")

    def set_speed(self, speed):
        """The board's clock (and the radio) from now on `speed` times the host's."""
        self.speed = speed
        for air in self.airs:
            air.delay = AIR_DELAY / speed
        self._send(b"S%g;" % speed)

    def set_dns(self, dead):
        self.dns_is_dead = dead
        self._send(b"D" if dead else b"d")

    def power_cycle(self):
        """Power off and on: a reset the firmware did not ask for."""
        self._reset("power")

    def stop(self):
        self._stopped = True
        self._kill()
        for air in self.airs:
            air.close()
        self._done.set()

    def wait(self, timeout=None):
        """The firmware's exit status once it has stopped for good (resets followed);
        subprocess.TimeoutExpired if it runs on."""
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("micropython", timeout)
        return self.proc.returncode if self.proc else None

    def output(self):
        return "\n".join(self.lines)

    # -- internals -------------------------------------------------------------------------

    def _send(self, b):
        c = self._ctl
        if c is not None:
            try:
                c.sendall(b)
            except OSError:
                pass

    def _state(self):
        return (b"W" if self.wifi_up else b"w") + (b"B" if self.button_down else b"b") + (
            b"D" if self.dns_is_dead else b"d")

    def _launch(self):
        if self.button_down:
            # GPIO0/GPIO9 low at reset: the ROM's download mode; the firmware never runs
            self.download_mode = True
            self.lines.append("[sim] button held at reset: ROM download mode, firmware not started")
            self._done.set()
            return
        self.boots += 1
        self.wdt_ms = 0
        self._last_ctl = time.monotonic()
        self.proc = p = subprocess.Popen(
            self.cmd, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read_output, args=(p,), daemon=True).start()

    def _read_output(self, p):
        for line in p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, flush=True)
        rc = p.wait()
        with self._lock:
            if p is not self.proc or self._stopped:
                return
            if rc == 75:  # hw.RESET_EXIT: a reset without the control line
                self.resets.append("asked")
                for air in self.airs:
                    air.drop()
                self._launch()
                return
        self._done.set()

    def _kill(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def _reset(self, why):
        with self._lock:
            if self._stopped:
                return
            self.resets.append(why)
            old = self.proc
            self.proc = None  # its output thread ends quietly
            if old is not None and old.poll() is None:
                old.kill()
                old.wait()
            for air in self.airs:
                air.drop()  # what the radio still held is gone
            self._ctl = None
            self._launch()

    def _serve_uart(self):
        while True:
            try:
                conn, _ = self._uart_srv.accept()
            except OSError:
                return
            self.uart.attach(conn)

    def _serve_ctl(self):
        while True:
            try:
                conn, _ = self._ctl_srv.accept()
            except OSError:
                return
            self._ctl = conn
            self._send(self._state())
            threading.Thread(target=self._read_ctl, args=(conn,), daemon=True).start()
            if self.on_boot:
                self.on_boot(self.boots)

    def _read_ctl(self, conn):
        f = conn.makefile("rb")
        try:
            self._ctl_lines(f)
        except OSError:
            pass  # the board went (a reset)

    def _ctl_lines(self, f):
        for raw in f:
            line = raw.decode(errors="replace").strip()
            self._last_ctl = time.monotonic()
            if line.startswith("wdt "):
                self.wdt_ms = int(line[4:])
            elif line.startswith("reset"):  # "reset", or "reset watchdog"
                why = line[6:] or "asked"
                threading.Thread(target=self._reset, args=(why,), daemon=True).start()
                return
            elif line == "ap 0":
                for air in self.ap_airs:
                    air.drop()  # the phone's connection goes with the access point
            elif line.startswith("host "):
                self.hostnames.append(line[5:])
            elif line.startswith("wifi "):
                self.wifi_calls.append(line[5:])  # "connect", "disconnect"

    def _watch(self):
        # The watchdog of a board that hangs without looking at its clock (the board's
        # clock checks it otherwise, tools/sim/time.py): nothing heard for twice the
        # timeout, in real time.
        while not self._stopped:
            time.sleep(0.5)
            p = self.proc
            if p is None or p.poll() is not None or not self.wdt_ms:
                continue
            if time.monotonic() - self._last_ctl > 2 * self.wdt_ms / 1000.0:
                self.lines.append("[sim] watchdog: nothing heard for %d ms: reset"
                                  % (2 * self.wdt_ms))
                self._reset("watchdog")
