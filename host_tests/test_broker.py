# test_broker.py: the brokers the suites and `make demo` run on behave as MQTT 3.1.1 says,
# for everything the product and its tests rely on. Each test runs on every broker this
# machine has: Debian's mosquitto (the reference) and the embedded tools/minibroker.py,
# so the embedded default is held to what mosquitto does.
# MIT license; Copyright (c) 2026 hanmq
#
# Clients are paho-mqtt 2.x (host_tests/broker.py) and, where a test needs bytes paho
# does not send (a silent client, a socket cut without DISCONNECT), a raw socket.
# "Fence": a message published after the ones under test; once it has arrived, so has
# everything the broker routed to that client before it (ordering, 4.6), so a test can
# assert that a message did not come without sleeping.

import socket
import struct
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from broker import Broker, available_kinds, subscriber


@pytest.fixture(params=available_kinds())
def broker(request):
    with Broker(kind=request.param) as b:
        yield b


def topic(name):
    return "t%s/%s" % (uuid.uuid4().hex[:6], name)


def publisher(broker, cid=None, clean=True):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid or "p-" + uuid.uuid4().hex[:8],
                    clean_session=clean)
    c.connect(broker.host, broker.port, keepalive=30)
    c.loop_start()
    return c


def pub(c, t, payload, qos=0, retain=False):
    info = c.publish(t, payload, qos=qos, retain=retain)
    info.wait_for_publish(10)  # QoS 1 and 2: the broker's acknowledgement came
    assert info.is_published()


def fence(sub, c, t):
    mark = sub.mark()
    pub(c, t, b"fence", qos=1)
    sub.wait_for(lambda tp, p, r: tp == t and p == b"fence", 10, mark)


# -- a raw MQTT client --------------------------------------------------------------------


def _utf8(b):
    return struct.pack("!H", len(b)) + b


def _packet(first, body):
    n, rl = len(body), bytearray()
    while True:
        rl.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    return bytes([first]) + bytes(rl) + body


def raw_connect(broker, cid, keepalive=30, will=None, user=None, password=None):
    """A socket after CONNECT; returns (socket, CONNACK return code)."""
    flags = 0x02
    payload = _utf8(cid.encode())
    if will:
        flags |= 0x04 | 0x20  # will, retained, QoS 0
        payload += _utf8(will[0].encode()) + _utf8(will[1])
    if user is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if user is not None:
        payload += _utf8(user.encode())
    if password is not None:
        payload += _utf8(password.encode())
    body = _utf8(b"MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    s = socket.create_connection((broker.host, broker.port), timeout=10)
    s.sendall(_packet(0x10, body))
    ack = _recv_exact(s, 4)
    assert ack[0] == 0x20 and ack[1] == 2, ack
    return s, ack[3]


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise EOFError("closed after %r" % out)
        out += b
    return out


def closed_within(s, seconds):
    """True when the broker closes the connection within `seconds`."""
    s.settimeout(seconds)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# -- the tests ----------------------------------------------------------------------------


def test_retained_flag_only_for_a_new_subscription(broker):
    t, c = topic("retained"), publisher(broker)
    try:
        with subscriber(broker, t.split("/")[0] + "/#") as live:
            pub(c, t + "/q0", b"zero", retain=True)
            pub(c, t + "/q1", b"one", qos=1, retain=True)
            fence(live, c, t + "/fence")
            got = {tp: (p, r) for tp, p, r in live.messages}
            assert got[t + "/q0"] == (b"zero", False)  # 3.3.1-9: live, no RETAIN
            assert got[t + "/q1"] == (b"one", False)
        with subscriber(broker, t.split("/")[0] + "/#") as late:
            fence(late, c, t + "/fence")
            got = {tp: (p, r) for tp, p, r in late.messages}
            assert got[t + "/q0"] == (b"zero", True)  # 3.3.1-8: RETAIN set
            assert got[t + "/q1"] == (b"one", True)
            assert len([m for m in late.messages if m[0] == t + "/q0"]) == 1  # once
        pub(c, t + "/q0", b"", qos=1, retain=True)  # an empty payload deletes it
        pub(c, t + "/q1", b"newer", qos=1, retain=True)  # a newer one replaces it
        with subscriber(broker, t.split("/")[0] + "/#") as later:
            fence(later, c, t + "/fence")
            got = {tp: (p, r) for tp, p, r in later.messages}
            assert t + "/q0" not in got and got[t + "/q1"] == (b"newer", True)
    finally:
        c.disconnect()
        c.loop_stop()


def test_last_will_on_a_cut_connection_but_not_after_disconnect(broker):
    t, c = topic("status"), publisher(broker)
    try:
        with subscriber(broker, t) as sub:
            s, rc = raw_connect(broker, "will-cut", will=(t, b"offline"))
            assert rc == 0
            s.close()  # no DISCONNECT: the will goes out (3.1.2-8)
            sub.wait_for(lambda tp, p, r: p == b"offline", 10)
            s, rc = raw_connect(broker, "will-clean", will=(t, b"gone-wrong"))
            s.sendall(b"\xe0\x00")  # DISCONNECT: the will is discarded (3.14.4-3)
            assert closed_within(s, 10)
            s.close()
            fence(sub, c, t)
            assert [p for tp, p, r in sub.messages if p != b"fence"] == [b"offline"]
        with subscriber(broker, t) as late:  # the will was retained
            late.wait_for(lambda tp, p, r: p == b"offline" and r, 10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_keepalive_is_enforced_and_the_will_sent(broker):
    t = topic("silent")
    with subscriber(broker, t) as sub:
        s, rc = raw_connect(broker, "silent-" + t[:7], keepalive=1, will=(t, b"timed-out"))
        # nothing sent for 1.5 x keepalive (3.1.2-24); mosquitto checks every few seconds
        assert closed_within(s, 20)
        s.close()
        sub.wait_for(lambda tp, p, r: p == b"timed-out", 10)


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_messages_arrive_once_and_in_order(broker, qos):
    t, c = topic("seq"), publisher(broker)
    try:
        with subscriber(broker, t, qos=qos) as sub:
            n = 300
            for i in range(n):
                c.publish(t, b"%d" % i, qos=qos)
            pub(c, t, b"last", qos=qos)  # ordered with the rest: same QoS (4.6)
            sub.wait_for(lambda tp, p, r: p == b"last", 20)
            got = [p for tp, p, r in sub.messages if tp == t]
            assert got == [b"%d" % i for i in range(n)] + [b"last"]
    finally:
        c.disconnect()
        c.loop_stop()


def wait_until(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met within %ss" % timeout
        time.sleep(0.02)


def test_persistent_session_gets_what_was_sent_while_away(broker):
    t, c = topic("away"), publisher(broker)
    cid = "persist-" + uuid.uuid4().hex[:6]
    got, present, subacks = [], [], []
    s = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=False)
    s.on_message = lambda cl, u, m: got.append((m.payload, m.qos, m.retain))
    s.on_connect = lambda cl, u, flags, rc, props: present.append(flags.session_present)
    s.on_subscribe = lambda *a: subacks.append(1)
    try:
        s.connect(broker.host, broker.port)
        s.loop_start()
        wait_until(lambda: present)
        s.subscribe(t, 1)
        wait_until(lambda: subacks)
        pub(c, t, b"before", qos=1)
        wait_until(lambda: got)
        s.disconnect()
        s.loop_stop()
        for i in range(5):
            pub(c, t, b"away-%d" % i, qos=1)  # queued for the offline session
        pub(c, t, b"dropped", qos=0)  # QoS 0 is not kept for it
        s.reconnect()  # same client id, clean session off: no new SUBSCRIBE needed
        s.loop_start()
        wait_until(lambda: len(got) >= 6)
        pub(c, t, b"after", qos=1)
        wait_until(lambda: got[-1][0] == b"after")
        assert got == ([(b"before", 1, False)] + [(b"away-%d" % i, 1, False) for i in range(5)]
                       + [(b"after", 1, False)])
        assert present == [False, True]  # CONNACK's session present flag (3.2.2.2)
    finally:
        s.disconnect()
        s.loop_stop()
        c.disconnect()
        c.loop_stop()


def test_wildcards(broker):
    base, c = topic("w").split("/")[0], publisher(broker)
    try:
        with subscriber(broker, [base + "/+/x", base + "/a/#"]) as sub:
            for tp in ("/a/x", "/b/x", "/b/x/y", "/a", "/a/y/z", "/c/y"):
                pub(c, base + tp, tp.encode(), qos=1)
            fence(sub, c, base + "/a/fence")
            got = [p.decode() for tp, p, r in sub.messages if p != b"fence"]
            # /a/x matches both filters and comes once (3.3.5)
            assert sorted(got) == ["/a", "/a/x", "/a/y/z", "/b/x"]
    finally:
        c.disconnect()
        c.loop_stop()


def test_wrong_password_is_refused_and_right_one_accepted():
    for kind in available_kinds():
        with Broker(kind=kind, users={"meter": "right"}) as b:
            s, rc = raw_connect(b, "login-bad", user="meter", password="wrong")
            assert rc in (4, 5), (kind, rc)  # bad user name or password / not authorized
            assert closed_within(s, 10)
            s.close()
            s, rc = raw_connect(b, "login-anon")
            assert rc in (4, 5), (kind, rc)
            s.close()
            s, rc = raw_connect(b, "login-ok", user="meter", password="right")
            assert rc == 0, kind
            s.close()


def test_same_client_id_takes_the_session_over(broker):
    t = topic("takeover")
    with subscriber(broker, t) as sub:
        first, rc = raw_connect(broker, "twin-" + t[:7], will=(t, b"first-gone"))
        second, rc2 = raw_connect(broker, "twin-" + t[:7])
        assert rc == rc2 == 0
        assert closed_within(first, 10)  # 3.1.4-2
        sub.wait_for(lambda tp, p, r: p == b"first-gone", 10)  # cut without DISCONNECT
        first.close()
        second.close()
