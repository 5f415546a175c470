#!/usr/bin/env python3
# minibroker.py: a small but complete MQTT 3.1.1 broker in pure Python, the embedded
# default where Debian's mosquitto is not installed (tools/broker.py starts it).
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/minibroker.py [--host 127.0.0.1] [--port 1883] [--passwd FILE]
#                              [--cert CERT.pem --key KEY.pem]
#
# What it implements, by clause of the OASIS MQTT 3.1.1 standard (2014):
# - CONNECT/CONNACK (3.1, 3.2): protocol level 4, clean and persistent sessions, session
#   present flag, client id takeover (3.1.4-2), user name and password (rc 4 when wrong),
#   keepalive enforced at 1.5 x (3.1.2-24), last will (published on any close but
#   DISCONNECT, 3.1.2-8, 3.14.4-3).
# - PUBLISH with QoS 0, 1 and 2 both ways (3.3 to 3.7, 4.3), DUP on resend (3.3.1-1),
#   unacknowledged messages resent when a persistent session reconnects (4.4), QoS 1 and
#   2 messages queued for an offline persistent session.
# - Retained messages (3.3.1.3): kept per topic, an empty payload deletes; sent with the
#   RETAIN flag set only to a new subscription (3.3.1-8), without it to existing ones
#   (3.3.1-9).
# - SUBSCRIBE/UNSUBSCRIBE (3.8 to 3.11): "+" and "#" wildcards, topics starting with "$"
#   not matched by a leading wildcard (4.7.2-1), invalid filters refused with 0x80,
#   one copy per client at the highest QoS of its matching subscriptions (3.3.5).
# - PINGREQ/PINGRESP, DISCONNECT; any malformed packet closes the connection (4.8).
# - Ordering (4.6): every message a client receives is written in the order the broker
#   routed it.
# Messages are held in memory only (like mosquitto with "persistence false").
#
# --passwd FILE: lines "name:salt:sha256(salt + password)" (hex), as written by
# password_line(); with it anonymous clients are refused. Log lines go to stderr.

import argparse
import asyncio
import hashlib
import hmac
import os
import signal
import ssl
import struct
import sys
import time
from collections import deque

# control packet types (2.2.1)
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# CONNACK return codes (3.2.2.3)
ACCEPTED, BAD_PROTOCOL, ID_REJECTED, BAD_LOGIN = 0, 1, 2, 4

#: QoS 1 and 2 messages kept for an offline persistent session (mosquitto's
#: max_queued_messages default); beyond it the oldest is dropped.
MAX_QUEUED = 1000


class Malformed(Exception):
    """A protocol violation: the connection is closed (4.8)."""


def log(msg, *args):
    sys.stderr.write("%d: %s\n" % (time.time(), msg % args if args else msg))
    sys.stderr.flush()


def password_line(name, password):
    salt = os.urandom(8).hex()
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return "%s:%s:%s\n" % (name, salt, digest)


def read_passwd(path):
    users = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                name, salt, digest = line.rsplit(":", 2)
                users[name] = (salt, digest)
    return users


# -- encoding ------------------------------------------------------------------------------


def packet(ptype, flags, body):
    """Fixed header (2.2) + body: remaining length as 1 to 4 bytes, 7 bits each."""
    n = len(body)
    out = bytearray([ptype << 4 | flags])
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            break
    return bytes(out) + body


def utf8(s):
    return struct.pack("!H", len(s)) + s


def publish_packet(topic, payload, qos, retain, pid=0, dup=False):
    body = utf8(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return packet(PUBLISH, dup << 3 | qos << 1 | retain, body)


class Reader:
    """Fields of one packet's body, in order."""

    def __init__(self, body):
        self.b = body
        self.i = 0

    def u8(self):
        if self.i >= len(self.b):
            raise Malformed("packet too short")
        self.i += 1
        return self.b[self.i - 1]

    def u16(self):
        if self.i + 2 > len(self.b):
            raise Malformed("packet too short")
        self.i += 2
        return struct.unpack_from("!H", self.b, self.i - 2)[0]

    def blob(self):
        n = self.u16()
        if self.i + n > len(self.b):
            raise Malformed("field longer than the packet")
        self.i += n
        return self.b[self.i - n : self.i]

    def text(self):
        s = self.blob()
        try:
            s.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("string is not UTF-8 (1.5.3)") from None
        if b"\x00" in s:
            raise Malformed("string holds U+0000 (1.5.3-2)")
        return s

    def rest(self):
        r = self.b[self.i :]
        self.i = len(self.b)
        return r

    def left(self):
        return len(self.b) - self.i


async def read_packet(reader):
    """(type, flags, body) of the next packet; IncompleteReadError at EOF."""
    first = (await reader.readexactly(1))[0]
    n = shift = 0
    for _ in range(4):
        b = (await reader.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    else:
        raise Malformed("remaining length longer than 4 bytes (2.2.3)")
    body = await reader.readexactly(n) if n else b""
    return first >> 4, first & 0x0F, body


# -- topics --------------------------------------------------------------------------------


def valid_filter(f):
    if not f:
        return False
    levels = f.split(b"/")
    for i, lv in enumerate(levels):
        if b"#" in lv and (lv != b"#" or i != len(levels) - 1):
            return False  # 4.7.1-2
        if b"+" in lv and lv != b"+":
            return False  # 4.7.1-3
    return True


def matches(filt, topic):
    """4.7: "+" one level, "#" the parent level and every level below."""
    if topic[:1] == b"$" and filt[:1] in (b"+", b"#"):
        return False  # 4.7.2-1
    fl = filt.split(b"/")
    tl = topic.split(b"/")
    for i, f in enumerate(fl):
        if f == b"#":
            return True
        if i >= len(tl) or (f != b"+" and f != tl[i]):
            return False
    return len(fl) == len(tl)


# -- the broker ----------------------------------------------------------------------------


class Session:
    def __init__(self, client_id, clean):
        self.client_id = client_id
        self.clean = clean
        self.subs = {}  # filter -> granted QoS
        self.conn = None  # the Connection while one is open
        self.inflight = {}  # pid -> [topic, payload, qos, retain, released]: sent, not acked
        self.queue = deque()  # (topic, payload, qos, retain) while offline
        self.qos2_in = set()  # pids of incoming QoS 2 messages awaiting PUBREL
        self._pid = 0

    def next_pid(self):
        for _ in range(65535):
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.inflight:
                return self._pid
        raise Malformed("no free packet identifier")  # 65535 unacknowledged messages

    def deliver(self, topic, payload, qos, retain):
        if self.conn is None:
            if qos and not self.clean:
                self.queue.append((topic, payload, qos, retain))
                if len(self.queue) > MAX_QUEUED:
                    self.queue.popleft()
            return
        pid = 0
        if qos:
            pid = self.next_pid()
            self.inflight[pid] = [topic, payload, qos, retain, False]
        self.conn.send(publish_packet(topic, payload, qos, retain, pid))

    def resume(self):
        """A persistent session reconnected: resend what was not acknowledged (4.4), in
        order, then what was queued meanwhile."""
        for pid in sorted(self.inflight):  # ascending: the order they were first sent
            topic, payload, qos, retain, released = self.inflight[pid]
            if released:
                self.conn.send(packet(PUBREL, 2, struct.pack("!H", pid)))
            else:
                self.conn.send(publish_packet(topic, payload, qos, retain, pid, dup=True))
        while self.queue and self.conn is not None:
            self.deliver(*self.queue.popleft())


class Broker:
    def __init__(self, users=None):
        self.users = users  # None: anonymous allowed
        self.sessions = {}  # client id -> Session
        self.retained = {}  # topic -> (payload, qos)
        self._anon = 0

    def route(self, topic, payload, qos, retain):
        if retain:
            if payload:
                self.retained[topic] = (payload, qos)
            else:
                self.retained.pop(topic, None)  # 3.3.1-10, 3.3.1-11
        for s in list(self.sessions.values()):
            granted = -1
            for f, q in s.subs.items():
                if q > granted and matches(f, topic):
                    granted = q
            if granted >= 0:
                s.deliver(topic, payload, min(qos, granted), False)  # 3.3.1-9

    def login(self, user, password):
        if self.users is None:
            return True
        if user is None or password is None or user.decode() not in self.users:
            return False
        salt, digest = self.users[user.decode()]
        mine = hashlib.sha256(salt.encode() + password).hexdigest()
        return hmac.compare_digest(mine, digest)

    def anonymous_id(self):
        self._anon += 1
        return b"auto-%d-%d" % (os.getpid(), self._anon)


class Connection:
    def __init__(self, broker, reader, writer):
        self.broker = broker
        self.reader = reader
        self.writer = writer
        self.session = None
        self.will = None  # (topic, payload, qos, retain)
        self.peer = "%s:%s" % writer.get_extra_info("peername")[:2]
        self.closed = False

    def send(self, data):
        if not self.closed:
            self.writer.write(data)

    def close(self, why=None):
        """Close the network connection; the will goes out unless DISCONNECT came first."""
        if self.closed:
            return
        self.closed = True
        s = self.session
        name = s.client_id.decode(errors="replace") if s else "?"
        if why:
            log("Client %s (%s) closed: %s", name, self.peer, why)
        if s is not None and s.conn is self:
            s.conn = None
            if s.clean:
                self.broker.sessions.pop(s.client_id, None)
        self.writer.close()
        if self.will is not None:
            will, self.will = self.will, None
            self.broker.route(*will)

    async def run(self):
        try:
            ptype, flags, body = await asyncio.wait_for(read_packet(self.reader), 30)
            if ptype != CONNECT:
                raise Malformed("first packet is not CONNECT (3.1.0-1)")
            keepalive = self.connect(flags, body)
            if keepalive is None:
                return
            limit = keepalive * 1.5 if keepalive else None
            while not self.closed:
                try:
                    ptype, flags, body = await asyncio.wait_for(read_packet(self.reader), limit)
                except asyncio.TimeoutError:
                    self.close("no packet within 1.5 x keepalive (3.1.2-24)")
                    return
                if ptype == DISCONNECT:
                    self.will = None  # 3.14.4-3
                    log("Client %s disconnected.", self.session.client_id.decode(errors="replace"))
                    self.close()
                    return
                self.handle(ptype, flags, body)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.close("connection lost")
        except asyncio.TimeoutError:
            self.close("no CONNECT")
        except Malformed as e:
            self.close("protocol error: %s" % e)
        finally:
            self.close()

    def connect(self, flags, body):
        """3.1: returns the keepalive in seconds, or None when refused."""
        r = Reader(body)
        name, level, cflags = r.blob(), r.u8(), r.u8()
        if name != b"MQTT" or level != 4:
            # 3.1.2-2: refuse an unsupported level with rc 1; other names are not MQTT
            if name in (b"MQTT", b"MQIsdp"):
                self.send(packet(CONNACK, 0, bytes([0, BAD_PROTOCOL])))
            self.close("protocol %r level %d not supported" % (name, level))
            return None
        if cflags & 1:
            raise Malformed("reserved CONNECT flag set (3.1.2-3)")
        clean = bool(cflags & 2)
        keepalive = r.u16()
        client_id = r.text()
        if cflags & 4:
            wqos = cflags >> 3 & 3
            if wqos == 3:
                raise Malformed("will QoS 3 (3.1.2-14)")
            wtopic, wmsg = r.text(), r.blob()
            if not wtopic or b"+" in wtopic or b"#" in wtopic:
                raise Malformed("invalid will topic")
            will = (wtopic, wmsg, wqos, bool(cflags & 0x20))
        elif cflags & 0x38:
            raise Malformed("will QoS or retain without a will (3.1.2-11, 3.1.2-15)")
        else:
            will = None
        user = r.text() if cflags & 0x80 else None
        password = r.blob() if cflags & 0x40 else None
        if password is not None and user is None:
            raise Malformed("password without user name (3.1.2-22)")
        if r.left():
            raise Malformed("bytes after the CONNECT payload")
        if not client_id:
            if not clean:
                self.send(packet(CONNACK, 0, bytes([0, ID_REJECTED])))  # 3.1.3-8
                self.close("empty client id with a persistent session")
                return None
            client_id = self.broker.anonymous_id()
        if not self.broker.login(user, password):
            self.send(packet(CONNACK, 0, bytes([0, BAD_LOGIN])))
            self.close("bad user name or password for %r" % client_id.decode(errors="replace"))
            return None
        sessions = self.broker.sessions
        s = sessions.get(client_id)
        if s is not None and s.conn is not None:
            s.conn.close("taken over by a new connection (3.1.4-2)")
            s = sessions.get(client_id)
        if s is not None and (clean or s.clean):
            sessions.pop(client_id)  # 3.1.2-6: a clean session starts anew
            s = None
        present = s is not None
        if s is None:
            s = sessions[client_id] = Session(client_id, clean)
        s.conn = self
        self.session = s
        self.will = will
        log("New client connected from %s as %s (c%d, k%d%s).", self.peer,
            client_id.decode(errors="replace"), clean, keepalive,
            ", u'%s'" % user.decode() if user else "")
        self.send(packet(CONNACK, 0, bytes([present, ACCEPTED])))  # 3.2.2.2
        if present:
            s.resume()
        return keepalive

    def handle(self, ptype, flags, body):
        s = self.session
        r = Reader(body)
        if ptype == PUBLISH:
            qos = flags >> 1 & 3
            if qos == 3:
                raise Malformed("QoS 3 (3.3.1-4)")
            topic = r.text()
            if not topic or b"+" in topic or b"#" in topic:
                raise Malformed("invalid topic name (3.3.2-2)")
            pid = r.u16() if qos else 0
            if qos and pid == 0:
                raise Malformed("packet identifier 0 (2.3.1-1)")
            payload = r.rest()
            retain = flags & 1
            if qos == 2:
                # method B of 4.3.3: route once, on first receipt; a resent PUBLISH with the
                # same identifier before PUBREL is a duplicate
                if pid not in s.qos2_in:
                    s.qos2_in.add(pid)
                    self.broker.route(topic, payload, qos, retain)
                self.send(packet(PUBREC, 0, struct.pack("!H", pid)))
                return
            self.broker.route(topic, payload, qos, retain)
            if qos == 1:
                self.send(packet(PUBACK, 0, struct.pack("!H", pid)))
        elif ptype == PUBACK or ptype == PUBCOMP:
            s.inflight.pop(r.u16(), None)
        elif ptype == PUBREC:
            pid = r.u16()
            if pid in s.inflight:
                s.inflight[pid][4] = True
            self.send(packet(PUBREL, 2, struct.pack("!H", pid)))
        elif ptype == PUBREL:
            if flags != 2:
                raise Malformed("PUBREL flags (3.6.1-1)")
            pid = r.u16()
            s.qos2_in.discard(pid)
            self.send(packet(PUBCOMP, 0, struct.pack("!H", pid)))
        elif ptype == SUBSCRIBE:
            self.subscribe(flags, r)
        elif ptype == UNSUBSCRIBE:
            if flags != 2:
                raise Malformed("UNSUBSCRIBE flags (3.10.1-1)")
            pid = r.u16()
            if not r.left():
                raise Malformed("UNSUBSCRIBE without a filter (3.10.3-2)")
            while r.left():
                s.subs.pop(r.text(), None)
            self.send(packet(UNSUBACK, 0, struct.pack("!H", pid)))
        elif ptype == PINGREQ:
            self.send(packet(PINGRESP, 0, b""))
        else:
            raise Malformed("unexpected packet type %d" % ptype)

    def subscribe(self, flags, r):
        if flags != 2:
            raise Malformed("SUBSCRIBE flags (3.8.1-1)")
        pid = r.u16()
        if not r.left():
            raise Malformed("SUBSCRIBE without a filter (3.8.3-3)")
        granted = []
        new = []
        while r.left():
            f, q = r.text(), r.u8()
            if q & 0xFC:
                raise Malformed("reserved bits in requested QoS (3.8.3-4)")
            if not valid_filter(f):
                granted.append(0x80)
                continue
            self.session.subs[f] = q  # replaces one with the same filter (3.8.4-3)
            granted.append(q)
            new.append((f, q))
        self.send(packet(SUBACK, 0, struct.pack("!H", pid) + bytes(granted)))
        # retained messages for each new subscription, with RETAIN set (3.3.1-6, 3.3.1-8)
        for f, q in new:
            for topic, (payload, rq) in list(self.broker.retained.items()):
                if matches(f, topic):
                    self.session.deliver(topic, payload, min(q, rq), True)


async def serve(host, port, users, ssl_ctx):
    broker = Broker(users)

    async def client(reader, writer):
        await Connection(broker, reader, writer).run()

    server = await asyncio.start_server(client, host, port, ssl=ssl_ctx, reuse_address=True)
    log("minibroker (MQTT 3.1.1) listening on %s:%d%s%s.", host, port,
        ", TLS" if ssl_ctx else "", ", login required" if users is not None else "")
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop
    log("minibroker stopped.")


def main(argv=None):
    ap = argparse.ArgumentParser(description="A small MQTT 3.1.1 broker (in-memory).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--passwd", help="password file (see password_line); anonymous refused")
    ap.add_argument("--cert", help="server certificate (PEM): TLS only")
    ap.add_argument("--key", help="its private key (PEM)")
    a = ap.parse_args(argv)
    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    users = read_passwd(a.passwd) if a.passwd else None
    try:
        asyncio.run(serve(a.host, a.port, users, ctx))
    except OSError as e:
        log("cannot listen on %s:%d: %s", a.host, a.port, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
