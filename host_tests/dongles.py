# dongles.py: helpers for the suites that run the whole firmware on a simulated board
# (tools/simulate.py) against a real broker, observed by a real client.
# MIT license; Copyright (c) 2026 hanmq

import json
import time

from conftest import load_corpus

CORPUS = load_corpus()
FRAME = {r["id"]: bytes.fromhex(r["hex"]) for r in CORPUS if r["format"] == "hdlc"}


def norwegian(vendor):
    return [
        r for r in CORPUS
        if r["format"] == "hdlc" and r["country"] == "NO" and r["crc_ok"] and r["vendor"] == vendor
    ]


def readings(sub, node):
    base = "hanmq/hanmq_%s/" % node
    return [json.loads(p) for t, p, r in sub.messages if t == base + "reading"]


def wait_online(sub, node, since=0, timeout=20):
    sub.wait_for(lambda t, p, r: t == "hanmq/hanmq_%s/status" % node and p == b"online",
                 timeout, since)


def wait_offline(sub, node, timeout=30):
    """The dongle's last message at the end of a host run (Publisher.goodbye): every
    message it sent before has then reached the subscriber."""
    sub.wait_for(lambda t, p, r: t == "hanmq/hanmq_%s/status" % node and p == b"offline",
                 timeout)


def wait_readings(sub, node, n, timeout=30):
    """Wait until n readings have arrived (QoS 0: they may still be on their way
    when the firmware has finished); return them."""
    base = "hanmq/hanmq_%s/reading" % node
    deadline = time.monotonic() + timeout
    while sub.count(lambda t, p, r: t == base) < n and time.monotonic() < deadline:
        sub.wait_for(lambda t, p, r: t == base, max(0.01, deadline - time.monotonic()),
                     sub.mark())
    return readings(sub, node)


def wait_log(d, text, count=1, timeout=30):
    """Wait until the firmware has logged `text` count times; return those lines."""
    deadline = time.monotonic() + timeout
    while True:
        hits = [line for line in list(d.lines) if text in line]
        if len(hits) >= count:
            return hits[:count]
        p = d.proc
        assert p is None or p.poll() is None or d.resets, "firmware exited:\n" + d.output()
        assert time.monotonic() < deadline, "no %d x %r in:\n%s" % (count, text, d.output())
        time.sleep(0.05)
