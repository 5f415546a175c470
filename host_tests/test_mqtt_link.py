# test_mqtt_link.py: firmware/mqtt_link.py under the MicroPython unix port against a real broker.
# MIT license; Copyright (c) 2026 hanmq
#
# The link runs unchanged in the unix port (host_tests/mp/link_driver.py), talks to a real
# broker process (the run's broker kind: make test runs these on mosquitto, then on the
# embedded minibroker) and is observed from outside with a paho-mqtt subscriber. Waits are for events, with timeouts; nothing sleeps and asserts.
# Also: firmware/backoff.py (CPython and unix port) and tools/fetch_umqtt.py.

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
from broker import Broker, default_kind, free_port, subscriber
from conftest import MICROPYTHON, ROOT, run_micropython

UMQTT = os.path.join(ROOT, "build", "lib", "umqtt", "simple.py")
DRIVER = os.path.join("host_tests", "mp", "link_driver.py")
RETRY = re.compile(r"; retry in (\d+) ms$")


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        "hanmq_tools_" + name, os.path.join(ROOT, "tools", name + ".py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module", autouse=True)
def umqtt_lib():
    """build/lib/umqtt/simple.py, fetched (pinned, hash-checked) when missing."""
    if not os.path.exists(UMQTT):
        out = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tools", "fetch_umqtt.py")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, "tools/fetch_umqtt.py failed:\n" + out.stderr
    return UMQTT


@pytest.fixture
def kind():
    """This run's broker kind ($HANMQ_BROKER, else mosquitto when installed)."""
    return default_kind()


@pytest.fixture
def broker(kind):
    with Broker(kind=kind) as b:
        yield b


class Driver:
    """link_driver.py in the unix port; its stdout lines are collected by a thread."""

    def __init__(self, **cfg):
        cfg.setdefault("cid", "hanmq-%s" % uuid.uuid4().hex[:8])
        cfg.setdefault("base", "hanmq/" + cfg["cid"])
        self.cfg = cfg
        self.lines = []
        self._cond = threading.Condition()
        args = ["%s=%s" % kv for kv in cfg.items()]
        self.proc = subprocess.Popen(
            [MICROPYTHON, DRIVER] + args,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)  # EOF
            self._cond.notify_all()

    def output(self):
        with self._cond:
            return "\n".join(x for x in self.lines if x is not None)

    def wait(self, pattern, count=1, timeout=15):
        """Wait until `count` lines contain `pattern`; return those lines."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [x for x in self.lines if x is not None and pattern in x]
                if len(hits) >= count:
                    return hits[:count]
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] is None):
                    why = "exited" if self.lines and self.lines[-1] is None else "timed out"
                    raise AssertionError(
                        "driver %s waiting for %d x %r; output:\n%s"
                        % (why, count, pattern, self.output())
                    )
                self._cond.wait(left)

    def alive(self):
        return self.proc.poll() is None

    def last_pub(self):
        with self._cond:
            pubs = [x for x in self.lines if x and x.startswith("PUB ")]
        return int(pubs[-1].split()[1]) if pubs else 0

    def maxblock(self):
        with self._cond:
            times = [int(x.split()[1]) for x in self.lines if x and x.startswith("MAXBLOCK")]
        return max(times or [0])

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def retry_delays(lines):
    return [int(RETRY.search(x).group(1)) for x in lines]


# -- against a real broker ----------------------------------------------------------------


@pytest.mark.broker
def test_publish_then_last_will_on_unclean_exit(broker):
    # keepalive 1 s: pings every 0.5 s keep the link up (PINGRESP counts as traffic)
    with (
        Driver(port=broker.port, keepalive=1, pub_ms=100) as d,
        subscriber(broker, "hanmq/%s/#" % d.cfg["cid"]) as sub,
    ):
        base = d.cfg["base"]
        d.wait("EVENT connected 1")
        sub.wait_for(lambda t, p, r: t == base + "/status" and p == b"online")
        # 25 publishes at 100 ms: the link stayed up for 2.5 s > 1.5 x keepalive
        sub.wait_for(lambda t, p, r: t == base + "/count" and int(p) >= 25, timeout=20)
        assert "connection lost" not in d.output()
        d.kill()  # SIGKILL: no DISCONNECT, so the broker publishes the will
        sub.wait_for(lambda t, p, r: t == base + "/status" and p == b"offline")
    # the will was retained: a new subscriber gets it at once
    with subscriber(broker, base + "/status") as late:
        late.wait_for(lambda t, p, r: p == b"offline" and r)


@pytest.mark.broker
def test_reconnects_after_broker_restart(broker):
    with (
        Driver(port=broker.port, first_ms=200, cap_ms=1000) as d,
        subscriber(broker, "hanmq/%s/#" % d.cfg["cid"]) as sub,
    ):
        count = d.cfg["base"] + "/count"
        d.wait("EVENT connected 1")
        sub.wait_for(lambda t, p, r: t == count)
        broker.stop()
        d.wait("MQTT: connection lost")
        d.wait("MQTT: cannot connect to 127.0.0.1", count=2)  # retried while down
        broker.start()  # same port
        d.wait("EVENT connected 2")
        n = d.last_pub()
        sub.wait_for(lambda t, p, r: t == count and int(p) > n)  # later publishes arrive
        assert d.alive()


@pytest.mark.broker
def test_broker_unreachable_at_boot(kind):
    port = free_port()  # nothing listens there yet
    with Driver(port=port, first_ms=100, cap_ms=800) as d:
        fails = d.wait("MQTT: cannot connect to 127.0.0.1:%d" % port, count=5)
        delays = retry_delays(fails)
        assert delays[0] < delays[1] < delays[2] < delays[3], delays  # 100, 200, 400, 800
        assert 640 <= delays[4] <= 960, delays  # capped at 800 ms +-20 %
        assert d.alive()
        with Broker(port=port, kind=kind):
            d.wait("EVENT connected 1")


@pytest.mark.broker
def test_wrong_password_is_reported_and_retried(kind):
    with Broker(kind=kind, users={"hanmq": "right-secret"}) as b:
        with Driver(port=b.port, user="hanmq", password="wrong-secret", refused_ms=300) as d:
            lines = d.wait("MQTT: broker refused: bad user name or password", count=2)
            assert all(int(RETRY.search(x).group(1)) >= 300 for x in lines)
            assert d.alive()
        assert "secret" not in d.output()
        with Driver(port=b.port, user="hanmq", password="right-secret") as ok:
            ok.wait("EVENT connected 1")
        assert "secret" not in ok.output()


def test_dns_failure_is_logged_and_retried():
    with Driver(host="nonexistent.invalid", first_ms=100, cap_ms=400) as d:
        # fast here; a resolver that does not answer makes each lookup take its timeout
        d.wait("MQTT: DNS lookup failed for nonexistent.invalid", count=2, timeout=45)
        assert d.alive()


@pytest.fixture
def tls_broker(kind):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    with Broker(kind=kind, tls=True) as b:
        yield b


@pytest.mark.broker
def test_tls_verified_round_trip(tls_broker):
    b = tls_broker
    with (
        Driver(port=b.port, tls=1, ca=b.cafile_der, keepalive=1, pub_ms=100) as d,
        subscriber(b, "hanmq/%s/#" % d.cfg["cid"]) as sub,
    ):
        base = d.cfg["base"]
        d.wait("EVENT connected 1")
        sub.publish(base + "/cmd", b"over-tls")
        sub.wait_for(lambda t, p, r: p == b"echo:over-tls")
        sub.wait_for(lambda t, p, r: t == base + "/count" and int(p) >= 25, timeout=20)
        assert "connection lost" not in d.output()  # PINGRESP seen through TLS too


@pytest.mark.broker
def test_tls_wrong_server_name_is_refused(tls_broker):
    b = tls_broker
    with Driver(port=b.port, tls=1, ca=b.cafile_der, sni="broker.example", first_ms=100) as d:
        d.wait("MQTT: cannot connect to 127.0.0.1", count=2)
        assert "EVENT connected" not in d.output() and d.alive()


@pytest.mark.broker
def test_tls_against_plain_broker_fails_cleanly(broker):
    with Driver(port=broker.port, tls=1, timeout=1, first_ms=100, cap_ms=400) as d:
        d.wait("MQTT: cannot connect to 127.0.0.1", count=2)
        assert "EVENT connected" not in d.output()
        assert d.alive()


@pytest.mark.broker
def test_subscription_then_publishes_stay_bounded(broker):
    # umqtt's check_msg() leaves the socket blocking without a timeout; with the broker
    # frozen and its buffers full, a publish would then hang forever. It must fail
    # within about the timeout instead, and the link must come back.
    with (
        Driver(port=broker.port, timeout=1, first_ms=100, cap_ms=400) as d,
        subscriber(broker, "hanmq/%s/echo" % d.cfg["cid"]) as sub,
    ):
        base = d.cfg["base"]
        d.wait("EVENT connected 1")
        sub.publish(base + "/cmd", b"hello")
        d.wait("RX %s/cmd hello" % base)
        sub.wait_for(lambda t, p, r: p == b"echo:hello")
        sub.publish(base + "/cmd", b"flood")
        d.wait("RX %s/cmd flood" % base)
        broker.pause()
        try:
            ms = int(d.wait("FLOODFAIL", timeout=30)[0].split()[1])
            assert 500 <= ms <= 3000, ms  # the write timed out after ~1 s
            d.wait("MQTT: connection lost")
            d.wait("MQTT: cannot connect", timeout=10)  # TCP accepted, no CONNACK: timeout
        finally:
            broker.resume()
        d.wait("EVENT connected 2", timeout=20)
        assert d.maxblock() <= 3500, d.output()


@pytest.mark.broker
def test_dead_connection_detected_by_keepalive(broker):
    with Driver(port=broker.port, keepalive=2, timeout=1, first_ms=100, cap_ms=400) as d:
        d.wait("EVENT connected 1")
        broker.pause()
        try:
            t0 = time.monotonic()
            d.wait("MQTT: connection lost: no reply from broker", timeout=10)
            assert time.monotonic() - t0 < 6  # 1.5 x keepalive (3 s) plus margin
            d.wait("MQTT: cannot connect", timeout=10)
        finally:
            broker.resume()
        d.wait("EVENT connected 2", timeout=20)
        assert d.alive() and d.maxblock() <= 3500, d.output()


# -- link internals in the unix port ------------------------------------------------------

UNIT = r"""
import sys
sys.path.insert(0, "build/lib")
sys.path.insert(0, "firmware")
import mqtt_link
m = mqtt_link._match
assert m(b"a/b", b"a/b") and not m(b"a/b", b"a/c")
assert m(b"a/+", b"a/b") and not m(b"a/+", b"a/b/c") and m(b"+/+", b"a/b")
assert m(b"a/#", b"a/b/c") and m(b"a/#", b"a") and m(b"#", b"x/y") and not m(b"b/#", b"a/b")
mqtt_link._ussl()
import ussl, ssl
assert ussl is ssl or hasattr(ussl, "wrap_socket")
l = mqtt_link.MQTTLink("c", "127.0.0.1", 1, user="u", password="p")
assert l.state == "disconnected" and not l.connected() and not l.publish(b"t", b"x")
print("OK")
"""


def test_link_internals_in_unix_port():
    out = run_micropython(["-c", UNIT], timeout=30)
    assert out.stdout.strip() == b"OK", out.stdout + out.stderr


# -- backoff ------------------------------------------------------------------------------


def _backoff(**kw):
    from backoff import Backoff

    return Backoff(**kw)


def test_backoff_doubles_with_jitter_up_to_cap():
    lo = _backoff(first_ms=1000, cap_ms=8000, rand=lambda: 0)
    hi = _backoff(first_ms=1000, cap_ms=8000, rand=lambda: 65535)
    assert [lo.fail(0) for _ in range(6)] == [800, 1600, 3200, 6400, 6400, 6400]
    assert [hi.fail(0) for _ in range(6)] == [1199, 2399, 4799, 9599, 9599, 9599]
    assert lo.failures == 6 and lo.fail(0, floor_ms=30000) == 30000


def test_backoff_due_uses_diff_and_survives_wrap():
    period = 1 << 30  # the ESP32's ticks_ms() wraps here

    def diff(a, b):
        return ((a - b + period // 2) % period) - period // 2

    b = _backoff(first_ms=1000, diff=diff, rand=lambda: 32768)
    assert b.due(123)  # nothing failed yet
    t = period - 300
    b.fail(t)  # 1000 ms
    assert not b.due((t + 999) % period) and b.due((t + 1000) % period)


def test_backoff_resets_only_after_a_stable_link():
    b = _backoff(first_ms=1000, cap_ms=60000, stable_ms=30000, rand=lambda: 32768)
    for _ in range(4):
        b.fail(0)  # next step 16 s
    b.up(100000)
    assert b.fail(110000) == 16000  # up for 10 s only: keeps backing off
    b.up(200000)
    assert b.fail(230000) == 1000  # up for 30 s: starts over
    b.reset()
    assert b.due(0) and b.fail(0) == 1000


def test_backoff_in_unix_port():
    code = (
        "import sys\nsys.path.insert(0, 'firmware')\nfrom backoff import Backoff\nimport time\n"
        "b = Backoff(1000, 4000)\nn = time.ticks_ms()\n"
        "d = [b.fail(n) for _ in range(4)]\n"
        "assert 800 <= d[0] <= 1200 and 1600 <= d[1] <= 2400 and 3200 <= d[3] <= 4800, d\n"
        "assert not b.due(n) and b.due(time.ticks_add(n, d[3]))\nprint('OK')\n"
    )
    out = run_micropython(["-c", code], timeout=30)
    assert out.stdout.strip() == b"OK", out.stdout + out.stderr


# -- tools/fetch_umqtt.py -----------------------------------------------------------------


def _offline(monkeypatch, fetch):
    def no_network(url):
        raise fetch.FetchError("cannot fetch %s: offline (test)" % url)

    monkeypatch.setattr(fetch, "_get", no_network)


def test_fetch_umqtt_is_idempotent_offline(tmp_path, monkeypatch):
    fetch = _load_tool("fetch_umqtt")
    cached = os.path.join(ROOT, "build", "cache", "micropython-umqtt.simple-1.3.4.tar.gz")
    if not os.path.exists(cached):
        pytest.skip("no cached sdist (run tools/fetch_umqtt.py once)")
    os.makedirs(tmp_path / "cache")
    (tmp_path / "cache" / os.path.basename(cached)).write_bytes(open(cached, "rb").read())
    _offline(monkeypatch, fetch)
    dest = fetch.fetch(str(tmp_path), log=lambda *a: None)  # extracts from the cache
    assert open(dest, "rb").read() == open(UMQTT, "rb").read()
    assert b"def check_msg" in open(dest, "rb").read()
    assert not os.path.exists(tmp_path / "lib" / "umqtt" / "__init__.py")
    mtime = os.stat(dest).st_mtime_ns
    fetch.fetch(str(tmp_path), log=lambda *a: None)  # nothing to do
    assert os.stat(dest).st_mtime_ns == mtime


def test_fetch_umqtt_rejects_a_bad_hash(tmp_path, monkeypatch, capsys):
    fetch = _load_tool("fetch_umqtt")
    os.makedirs(tmp_path / "cache")
    (tmp_path / "cache" / "micropython-umqtt.simple-1.3.4.tar.gz").write_bytes(b"tampered")
    monkeypatch.setattr(fetch, "_sdist_url", lambda: "https://example.invalid/x.tar.gz")
    monkeypatch.setattr(fetch, "_get", lambda url: b"not the pinned archive")
    assert fetch.main(["--build", str(tmp_path)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "lib" / "umqtt" / "simple.py")
    _offline(monkeypatch, fetch)
    assert fetch.main(["--build", str(tmp_path)]) == 1
    assert "offline" in capsys.readouterr().err
