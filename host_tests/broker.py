# broker.py: test helpers: a real local MQTT broker and a paho-mqtt subscriber.
# MIT license; Copyright (c) 2026 hanmq
#
# Broker is tools/broker.py's (one implementation for tests and `make demo`):
#   with Broker(users={"u": "p"}) as b: ...   b.port, b.stop(), b.start(), b.restart(),
#                                             b.pause()/b.resume() (SIGSTOP/SIGCONT), b.log()
# subscriber(broker, topics) connects paho-mqtt 2.x and records every message.

import importlib.util
import os
import threading
import time
import uuid

_HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "hanmq_tools_broker", os.path.join(os.path.dirname(_HERE), "tools", "broker.py")
)
_tools_broker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tools_broker)

Broker = _tools_broker.Broker
available_kinds = _tools_broker.available_kinds
default_kind = _tools_broker.default_kind
free_port = _tools_broker.free_port
port_open = _tools_broker.port_open


class Subscriber:
    """A paho-mqtt client subscribed to `topics`, collecting (topic, payload, retain)
    tuples (topic str, payload bytes). It reconnects and resubscribes by itself when the
    broker restarts."""

    def __init__(self, broker, topics, user=None, password=None, qos=0):
        import paho.mqtt.client as mqtt

        self.messages = []
        self._cond = threading.Condition()
        self._topics = [topics] if isinstance(topics, str) else list(topics)
        self._qos = qos
        self._subscribed = threading.Event()
        c = self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="hanmq-test-%s" % uuid.uuid4().hex[:8]
        )
        if user is not None:
            c.username_pw_set(user, password)
        if broker.tls:
            c.tls_set(ca_certs=broker.cafile)
        c.reconnect_delay_set(min_delay=1, max_delay=2)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.broker = broker
        c.connect(broker.host, broker.port, keepalive=30)
        c.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(t, self._qos) for t in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self._subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_subscribed(self, timeout=10):
        if not self._subscribed.wait(timeout):
            raise TimeoutError("subscriber: no SUBACK from %r" % self.broker)
        return self

    def mark(self):
        """Index of the next message: pass as since= to wait only for newer ones."""
        with self._cond:
            return len(self.messages)

    def wait_for(self, predicate, timeout=10, since=0):
        """The first message (topic, payload, retain) at index >= since for which
        predicate(topic, payload, retain) is true; TimeoutError if none comes in time."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.messages):
                    m = self.messages[i]
                    i += 1
                    if predicate(*m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        "no matching message within %ss; got %r" % (timeout, self.messages[since:])
                    )
                self._cond.wait(left)

    def count(self, predicate, since=0):
        with self._cond:
            return sum(1 for m in self.messages[since:] if predicate(*m))

    def fence(self, topic):
        """Publish a marker to `topic` (one this subscriber has) and wait for it: the
        broker has then sent everything it routed here before, retained messages of
        the subscriptions included (it forwards in order, MQTT 3.1.1 section 4.6)."""
        marker = b"fence-" + uuid.uuid4().hex.encode()
        mark = self.mark()
        self.client.publish(topic, marker, qos=1).wait_for_publish(10)
        self.wait_for(lambda t, p, r: t == topic and p == marker, 10, mark)

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=0, retain=retain).wait_for_publish(5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def subscriber(broker, topics, user=None, password=None, timeout=10, qos=0):
    """A connected Subscriber whose subscriptions (at `qos`) the broker has acknowledged."""
    return Subscriber(broker, topics, user, password, qos).wait_subscribed(timeout)
