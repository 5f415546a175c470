# latency.py: end-to-end latency of the whole dongle, and its steady-state heap.
# MIT license; Copyright (c) 2026 hanmq
#
#   .venv/bin/python bench/latency.py [--frames 300] [--gap 0.1] [--heap 96k]
#
# The unchanged firmware runs under the MicroPython unix port (tools/simulate.py) at
# the ESP32's heap, against a real local broker (mosquitto if installed, else amqtt).
# Each recorded frame is written to its UART seam whole, then the clock runs until a
# paho subscriber in this process receives the frame's JSON reading: the time from
# the frame's last byte at the UART seam to the message at a subscriber. Frames are
# spaced --gap seconds apart, so each is measured alone. The firmware publishes its
# free heap (after a collection) every second; the steady-state figure is the median
# of the second half of the run.

import argparse
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import broker as brokers  # noqa: E402
import replay  # noqa: E402
import simulate  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between frames")
    ap.add_argument("--heap", help="default: the ESP32's (simulate.board_heap)")
    a = ap.parse_args(argv)
    import paho.mqtt.client as mqtt

    corpus = os.path.join(ROOT, "host_tests", "frames", "corpus.jsonl")
    frames = []
    for vendor in ("Aidon", "Kaifa", "Kamstrup", "Landis+Gyr"):
        frames += replay.frames_from_corpus(corpus, vendor)
    frames = (frames * (a.frames // len(frames) + 1))[: a.frames]

    node = "1a7e9c"
    arrived = []  # (monotonic time, topic)
    heap = []
    got = threading.Condition()

    def on_message(c, u, msg):
        now = time.monotonic()
        with got:
            if msg.topic.endswith("/reading"):
                arrived.append(now)
            else:
                heap.append(json.loads(msg.payload)["free_heap"])
            got.notify_all()

    sent = []
    online = threading.Event()

    def meter(write):
        online.wait(30)
        for i, frame in enumerate(frames):
            write(frame)
            sent.append(time.monotonic())
            with got:  # wait for this frame's reading before the next one
                got.wait_for(lambda: len(arrived) > i, 5)
            time.sleep(a.gap)

    with brokers.Broker() as b:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hanmq-bench")
        c.on_message = on_message
        c.on_connect = lambda c, u, f, rc, p: (
            c.subscribe([("hanmq/hanmq_%s/reading" % node, 0), ("hanmq/hanmq_%s/diagnostics" % node, 0)]),
        )
        c.connect(b.host, b.port)
        c.loop_start()
        time.sleep(0.5)
        d = simulate.SimulatedDongle([], b.host, b.port, node=node, heap=a.heap, script=meter,
                                     diagnostics_s=1).start()
        time.sleep(2)  # connected, discovery sent
        online.set()
        rc = d.wait(600)
        c.loop_stop()
        c.disconnect()
        kind = b.kind
    n = min(len(sent), len(arrived))
    lat = sorted((arrived[i] - sent[i]) * 1000 for i in range(n))
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    steady = heap[len(heap) // 2 :]
    total = int(a.heap.rstrip("kK")) * 1024
    print("broker: %s; firmware exit %s; %s" % (kind, rc, d.summary))
    print("frames %d, readings %d" % (len(sent), len(arrived)))
    print("latency last byte at UART seam -> subscriber: median %.1f ms, p99 %.1f ms, max %.1f ms"
          % (statistics.median(lat), p99, lat[-1]))
    if steady:
        print("steady-state free heap at -X heapsize=%s: median %d B (min %d), live %d B"
              % (a.heap, statistics.median(steady), min(steady), total - statistics.median(steady)))
    return 0 if rc == 0 and n == len(frames) else 1


if __name__ == "__main__":
    sys.exit(main())
