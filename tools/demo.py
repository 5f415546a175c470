# demo.py: the whole product on this computer: four dongles, one per meter make.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/demo.py [--speed 5] [--broker HOST:PORT]      (make demo)
#
# Starts a local broker (Debian's mosquitto when installed, else the embedded
# pure-Python minibroker, tools/minibroker.py), then four copies of the unchanged firmware under the MicroPython
# unix port, each fed by a replayed meter (Aidon, Kaifa, Kamstrup, Landis+Gyr, from
# the recorded frames), and shows the readings live as they arrive over MQTT.

import argparse
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import broker as brokers  # noqa: E402
import replay  # noqa: E402
import simulate  # noqa: E402

CORPUS = os.path.join(ROOT, "host_tests", "frames", "corpus.jsonl")
METERS = (("Aidon", "a1d000"), ("Kaifa", "ca1fa0"), ("Kamstrup", "ca3500"), ("Landis+Gyr", "1a9d15"))


def fmt(node, r):
    """One line per reading: the values a person looks at first."""
    parts = ["%-17s" % node, "%-10s" % r.get("meter_manufacturer", "?")]
    if "active_power_import" in r:
        parts.append("P+ %6d W" % r["active_power_import"])
    if "active_power_export" in r:
        parts.append("P- %5d W" % r["active_power_export"])
    currents = [r[k] for k in ("current_l1", "current_l2", "current_l3") if k in r]
    if currents:
        parts.append("I " + "/".join("%.1f" % c for c in currents) + " A")
    volts = [r[k] for k in ("voltage_l1", "voltage_l2", "voltage_l3") if k in r]
    if volts:
        parts.append("U " + "/".join("%.0f" % v for v in volts) + " V")
    if "active_power_import_total" in r:
        parts.append("E+ %.3f kWh" % r["active_power_import_total"])
    if "meter_datetime" in r:
        parts.append("@ " + r["meter_datetime"])
    return "  ".join(parts)


def watch(host, port, subscribed, stop, counts, offline):
    """Print every reading as it arrives; note each dongle's "offline" (its last
    message when it has finished)."""
    import paho.mqtt.client as mqtt

    def on_connect(c, u, f, rc, p):
        c.subscribe([("hanmq/+/reading", 0), ("hanmq/+/status", 0)])

    def on_message(c, u, msg):
        node = msg.topic.split("/")[1]
        if msg.topic.endswith("/status"):
            if msg.payload == b"offline" and not msg.retain:
                offline.add(node)
            return
        counts[node] = counts.get(node, 0) + 1
        print(time.strftime("%H:%M:%S"), fmt(node, json.loads(msg.payload)), flush=True)

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hanmq-demo-viewer")
    c.on_connect = on_connect
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_message = on_message
    c.connect(host, port)
    c.loop_start()
    stop.wait()
    c.loop_stop()
    c.disconnect()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Four simulated dongles, readings shown live.")
    ap.add_argument("--speed", type=float, default=5.0, help="times real time (default 5)")
    ap.add_argument("--broker", metavar="HOST:PORT", help="default: start a local broker")
    ap.add_argument("--heap", help="default: the ESP32's (simulate.board_heap)")
    a = ap.parse_args(argv)
    host, port, embedded = brokers.use(a.broker)
    print("demo: %s broker on %s:%d; subscribe to hanmq/# to see every topic"
          % (embedded.kind if embedded else "your", host, port), flush=True)
    subscribed, stop, counts, offline = threading.Event(), threading.Event(), {}, set()
    viewer = threading.Thread(target=watch, args=(host, port, subscribed, stop, counts, offline),
                              daemon=True)
    viewer.start()
    subscribed.wait(10)  # the first readings are shown too
    dongles = []
    try:
        for vendor, node in METERS:
            frames = replay.frames_from_corpus(CORPUS, vendor)
            print("demo: dongle hanmq_%s on a %s meter (%d recorded frames)" % (node, vendor, len(frames)))
            dongles.append(
                simulate.SimulatedDongle(frames, host, port, node=node, speed=a.speed, heap=a.heap).start()
            )
        for d in dongles:
            d.wait()
        deadline = time.monotonic() + 10  # each one's last messages, on their way
        while len(offline) < len(dongles) and time.monotonic() < deadline:
            time.sleep(0.05)
    except KeyboardInterrupt:
        pass
    finally:
        for d in dongles:
            d.stop()
        stop.set()
        viewer.join(5)
        if embedded:
            embedded.stop()
    print()
    ok = True
    for (vendor, node), d in zip(METERS, dongles):
        print("demo: %-10s %s: %s" % (vendor, "hanmq_" + node, d.summary or "did not finish"))
        ok = ok and bool(d.summary) and counts.get("hanmq_" + node, 0) > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
