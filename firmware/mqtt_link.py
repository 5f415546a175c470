# mqtt_link.py: the broker connection: umqtt.simple 1.3.4 plus timeouts, keepalive, reconnect.
# MIT license; Copyright (c) 2026 hanmq
#
# umqtt.simple 1.3.4 (PyPI micropython-umqtt.simple, fetched by tools/fetch_umqtt.py) is
# blocking and has no timeouts, no keepalive pings and no reconnect. This module supplies
# them, so the main loop can call service() and publish() without ever blocking for longer
# than about timeout_s (a 2400-baud UART fills a 4 KB buffer in ~18 s: DESIGN.md 8):
#
# - umqtt's `socket` global points at _net below: connect() gets a socket that already
#   has the timeout, and the address this module resolved (1.3.4 resolves on every
#   connect and has no connect timeout).
# - after connect(), umqtt talks through _Sock: umqtt's wait_msg() calls
#   setblocking(True) after the first byte, which drops the timeout (MicroPython:
#   setblocking(True) == settimeout(None)); _Sock turns that back into settimeout(t), so
#   check_msg(), subscribe() and every later publish() stay bounded.
# - keepalive: PINGREQ when idle keepalive/2; a connection that received nothing for
#   1.5 x keepalive is dead (the same rule the broker applies, MQTT 3.1.1 section 3.1.2.10).
#
# Call service() only while Wi-Fi is up, and drop() when it goes. The broker's name is
# resolved before the first connect and again after a failed attempt (a reconnect after
# a dropped connection reuses the address), in a thread of its own: on the ESP32 a
# lookup blocks 7 s per DNS server that does not answer, up to 21 s, and no socket
# timeout bounds it (ports/esp32/modsocket.c releases the GIL for it). Each socket
# operation is bounded by timeout_s; one call can chain a few (connect, TLS handshake,
# CONNACK, SUBACKs), and a write that trickles out can restart the timer: observed worst
# case about 2 x timeout_s.
#
# Log levels passed to log(level, msg, *args): "E" error, "W" warning, "I" info.
# Passwords are never logged.

import socket
import sys

from backoff import Backoff
from micropython import const
from time import ticks_diff

import umqtt.simple as _umqtt
from umqtt.simple import MQTTClient, MQTTException

_MAX_MSGS = const(4)  # incoming packets handled per service() call

# CONNACK return codes (section 3.2.2.3). mosquitto 2 answers a wrong password with 5,
# "not authorized"; others (minibroker) with 4.
_REFUSED = (
    None,
    "unacceptable protocol version",
    "identifier rejected",
    "server unavailable",
    "bad user name or password",
    "bad user name or password (rc 5: not authorized)",
)


class _Net:
    # Stands in for umqtt.simple's `socket` module (umqtt calls socket.socket() and
    # socket.getaddrinfo(server, port)[0][-1] in connect()).
    ai = None  # the getaddrinfo() entry MQTTLink resolved
    timeout = 5
    raw = None  # the socket handed out last

    def socket(self, *args):
        ai = self.ai
        s = self.raw = socket.socket(ai[0], ai[1], ai[2])
        s.settimeout(self.timeout)
        return s

    def getaddrinfo(self, host, port, *args):
        return (self.ai,)


_net = _Net()
_umqtt.socket = _net


class _Sock:
    # umqtt.simple's view of an open connection (its `sock`). "Blocking" here means
    # blocking with the timeout. Also records whether anything arrived, which check_msg()
    # does not say (it returns None for "nothing" and for PINGRESP alike).

    def __init__(self, io, raw, timeout):
        self.io = io  # the plain socket, or the TLS socket over it
        self.raw = raw
        self.timeout = timeout
        self.rx = False

    def read(self, n):
        b = self.io.read(n)
        if b:
            self.rx = True
        return b

    def write(self, buf, n=None):
        if n is None:
            return self.io.write(buf)
        return self.io.write(buf, n)

    def setblocking(self, flag):
        # a TLS socket forwards this to the raw socket anyway
        if flag:
            self.raw.settimeout(self.timeout)
        else:
            self.raw.setblocking(False)

    def close(self):
        self.io.close()
        self.raw.close()


def _b(s):
    return s if s is None or isinstance(s, bytes) else s.encode()


def _is_ip(host):
    for c in host:
        if not ("0" <= c <= "9" or c == "."):
            return False
    return True


class _Lookup:
    """One getaddrinfo() at a time, in a thread, polled by the loop. Without _thread
    (a port built without it) the lookup runs inline."""

    def __init__(self):
        self.busy = False
        self.result = self.error = None

    def start(self, host, port):
        self.busy = True
        self.result = self.error = None
        try:
            import _thread

            _thread.start_new_thread(self._run, (host, port))
        except (ImportError, OSError, RuntimeError):
            self._run(host, port)

    def _run(self, host, port):
        try:
            self.result = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        except Exception as e:  # noqa: BLE001 (the loop reports it)
            self.error = e
        self.busy = False


def _err(e):
    # short, one line (mbedTLS messages span lines); only built on failures
    if isinstance(e, OSError) and e.args and e.args[0] == -1:
        return "closed by broker"  # umqtt raises OSError(-1) on EOF
    t = " ".join(str(e).split())
    if not isinstance(e, OSError):
        t = type(e).__name__ + (": " + t if t else "")
    return t[:100]


def _match(filt, topic):
    # topic filter matching, section 4.7: "+" one level, "#" this level and all below
    if filt == topic:
        return True
    if b"+" not in filt and b"#" not in filt:
        return False
    fs = filt.split(b"/")
    ts = topic.split(b"/")
    for i in range(len(fs)):
        p = fs[i]
        if p == b"#":
            return True
        if i >= len(ts) or (p != b"+" and p != ts[i]):
            return False
    return len(fs) == len(ts)


def _ussl():
    # umqtt.simple 1.3.4 does `import ussl`. Since MicroPython 1.23 `ssl` is a Python
    # module over the built-in `tls`, so the automatic u-prefix alias no longer exists.
    if "ussl" not in sys.modules:
        try:
            import ussl  # noqa: F401
        except ImportError:
            import ssl

            sys.modules["ussl"] = ssl


class MQTTLink:
    """One broker connection, kept up by service(). Counters for diagnostics: reconnects
    (successful connects after the first), connect_failures, last_error (short text, no
    secrets), state ("connected", "connecting", "backoff", "disconnected")."""

    #: least wait after the broker refused the connection (wrong login: retrying fast
    #: does not help, and some brokers rate-limit failed logins)
    refused_ms = 60000

    def __init__(
        self,
        client_id,
        host,
        port=1883,
        user=None,
        password=None,
        tls=False,
        keepalive=60,
        timeout_s=5,
        will_topic=None,
        will_msg=b"offline",
        log=None,
        ssl_params=None,
    ):
        self.host = host
        self.port = port or (8883 if tls else 1883)
        self.keepalive = keepalive
        self.timeout_s = timeout_s
        self.on_connect = None
        self.backoff = Backoff(cap_ms=120000)
        self.reconnects = 0
        self.connect_failures = 0
        self.last_error = ""
        self.state = "disconnected"
        self._log = log
        self._subs = []  # (topic filter, callback)
        self._ai = None  # resolved broker address, kept while it works
        self._lookup = _Lookup()
        self._s = None  # _Sock while connected
        self._ever = False
        self._now = self._rx = self._tx = self._ping = 0
        if tls:
            _ussl()
            # without cadata/cert_reqs in ssl_params the certificate is not verified
            ssl_params = ssl_params or {"server_hostname": host}
        if user is not None:
            password = _b(password) or b""
        c = self._c = MQTTClient(
            _b(client_id), host, self.port, _b(user), password, keepalive, tls, ssl_params or {}
        )
        if will_topic:
            # retained will, QoS 0: section 3.1.2.5 to 3.1.2.7
            c.set_last_will(will_topic, will_msg, True)
        c.set_callback(self._dispatch)

    def _say(self, level, msg, *args):
        if self._log:
            self._log(level, msg, *args)

    def connected(self):
        return self._s is not None

    def subscribe(self, topic, callback):
        """callback(topic, msg) for messages matching topic (bytes, wildcards allowed);
        subscribed now if connected, and again on every connect."""
        topic = _b(topic)
        self._subs.append((topic, callback))
        if self._s is not None:
            self._subscribe(topic)

    def service(self, now_ms):
        """Call every loop pass: connects when the backoff allows, handles incoming
        messages, pings, notices a dead connection. Returns connected()."""
        self._now = now_ms
        s = self._s
        if s is None:
            if self.backoff.due(now_ms):
                self._connect(now_ms)
            return self._s is not None
        self.backoff.still_up(now_ms)
        try:
            c = self._c
            for _ in range(_MAX_MSGS):
                s.rx = False
                c.check_msg()  # PUBLISH -> callback (3.3), PINGRESP (3.13), EOF -> OSError
                if self._s is not s:
                    return False  # a callback's publish failed: already handled
                if not s.rx:
                    break
                self._rx = now_ms
            ka = self.keepalive * 500
            if ka:
                if ticks_diff(now_ms, self._rx) >= 3 * ka:
                    raise OSError("no reply from broker for %d s" % (3 * ka // 1000))
                if ticks_diff(now_ms, self._ping) >= ka and (
                    ticks_diff(now_ms, self._tx) >= ka or ticks_diff(now_ms, self._rx) >= ka
                ):
                    c.ping()  # PINGREQ (3.12): keeps the session alive and proves the path
                    self._tx = self._ping = now_ms
        except Exception as e:
            self._lost(e)
        return self._s is not None

    def publish(self, topic, payload, retain=False):
        """QoS 0 publish (3.3.1.2: nothing to wait for). False, and a reconnect later,
        when not connected or on any error. Never raises."""
        if self._s is None:
            return False
        try:
            self._c.publish(topic, payload, retain)
        except Exception as e:
            self._lost(e)
            return False
        self._tx = self._now
        return True

    def drop(self, why):
        """The network went (Wi-Fi lost): close the connection at once, without a
        word to the broker (it cannot hear), so nothing more is written into a socket
        whose data can no longer arrive. A later service() connects again."""
        if self._s is not None:
            self._lost(OSError(why))

    def close(self):
        """Disconnect cleanly (DISCONNECT: the broker discards the will, 3.14.4). A later
        service() connects again."""
        if self._s is not None:
            try:
                self._c.disconnect()
            except Exception:
                pass
        self._close()
        self.state = "disconnected"
        self.backoff.reset()

    # -- internals ------------------------------------------------------------------------

    def _connect(self, now):
        c = self._c
        if self._ai is None:
            lk = self._lookup
            if not lk.busy and lk.result is None and lk.error is None:
                self.state = "resolving"
                if _is_ip(self.host):
                    lk._run(self.host, self.port)  # no DNS: nothing to wait for
                else:
                    lk.start(self.host, self.port)
            if lk.busy:
                return  # the next turn looks again
            self._ai, e = lk.result, lk.error
            lk.result = lk.error = None
            if e is not None or self._ai is None:
                return self._failed(now, "DNS lookup failed for %s: %s" % (self.host, _err(e)))
        self.state = "connecting"
        _net.ai = self._ai
        _net.timeout = self.timeout_s
        try:
            c.connect()  # CONNECT with clean session (3.1.2.4), waits for CONNACK (3.2)
        except MQTTException as e:
            rc = e.args[0] if e.args else 0
            why = _REFUSED[rc] if 0 < rc < len(_REFUSED) else "return code %d" % rc
            return self._failed(now, "broker refused: " + why, "E", self.refused_ms)
        except Exception as e:
            self._ai = None  # resolve again next time: the address may have changed
            why = "cannot connect to %s:%d: %s" % (self.host, self.port, _err(e))
            return self._failed(now, why)
        self._s = s = _Sock(c.sock, _net.raw, self.timeout_s)
        c.sock = s
        self._rx = self._tx = self._ping = now
        self.state = "connected"
        self.backoff.up(now)
        if self._ever:
            self.reconnects += 1
        self._ever = True
        self._say("I", "MQTT: connected to %s:%d", self.host, self.port)
        for sub in self._subs:
            if not self._subscribe(sub[0]):
                return
        if self.on_connect:
            try:
                self.on_connect()
            except Exception as e:
                self._say("E", "MQTT: on_connect failed: %s", _err(e))

    def _subscribe(self, topic):
        try:
            self._c.subscribe(topic)  # QoS 0, waits for SUBACK (3.8, 3.9)
        except MQTTException:
            # SUBACK 0x80, failure (3.9.3); the connection itself is fine
            self._say("W", "MQTT: broker refused subscription to %s", topic)
        except Exception as e:
            self._lost(e)
            return False
        return True

    def _dispatch(self, topic, msg):
        for sub in self._subs:
            if _match(sub[0], topic):
                try:
                    sub[1](topic, msg)
                except Exception as e:
                    # an application bug is not a broken connection
                    self._say("E", "MQTT: callback for %s failed: %s", topic, _err(e))

    def _close(self):
        s, self._s = self._s, None
        for x in (s, self._c.sock, _net.raw):
            if x is not None:
                try:
                    x.close()
                except Exception:
                    pass
        self._c.sock = None
        _net.raw = None

    def _failed(self, now, why, level="W", floor_ms=0):
        self._close()
        self.connect_failures += 1
        self.last_error = why
        self.state = "backoff"
        d = self.backoff.fail(now, floor_ms)
        self._say(level, "MQTT: %s; retry in %d ms", why, d)

    def _lost(self, e):
        if self._s is None:
            return
        self._close()
        self.last_error = "connection lost: " + _err(e)
        self.state = "backoff"
        d = self.backoff.fail(self._now)
        self._say("W", "MQTT: %s; retry in %d ms", self.last_error, d)
