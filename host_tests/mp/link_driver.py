# link_driver.py: run firmware/mqtt_link.py under the MicroPython unix port for test_mqtt_link.py.
# MIT license; Copyright (c) 2026 hanmq
#
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE.
#
#   micropython host_tests/mp/link_driver.py key=value ...
#
# keys: host port user password tls keepalive timeout cid base pub_ms first_ms cap_ms
#       refused_ms run_s; ca (a DER certificate file: verify the broker, TLS) and sni.
# Connects, publishes <base>/status "online" (retained) on each connect and a counter on
# <base>/count every pub_ms, subscribes to <base>/cmd.
# Commands: "flood" publishes 64 KB messages on hanmq-flood/<cid> every pass (to fill the
# socket buffers of a paused broker), "quit" ends the run. Prints one event per line:
#   LOG <level> <text> | EVENT connected <n> | RX <topic> <msg> | PUB <n> ok|fail
#   FLOODFAIL <ms> | MAXBLOCK <ms> (new worst time spent in one service()/publish() call)

import sys

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, _here + "/../../build/lib")
sys.path.insert(0, _here + "/../../firmware")

import time  # noqa: E402

from backoff import Backoff  # noqa: E402
from mqtt_link import MQTTLink  # noqa: E402

cfg = {
    "host": "127.0.0.1",
    "port": "1883",
    "user": "",
    "password": "",
    "tls": "0",
    "keepalive": "60",
    "timeout": "5",
    "cid": "hanmq-test",
    "base": "hanmq/test",
    "pub_ms": "200",
    "first_ms": "200",
    "cap_ms": "2000",
    "refused_ms": "0",
    "run_s": "60",
    "ca": "",
    "sni": "localhost",
}
for a in sys.argv[1:]:
    k, v = a.split("=", 1)
    cfg[k] = v


def log(level, msg, *args):
    print("LOG", level, msg % args if args else msg)


base = cfg["base"].encode()
t_status = base + b"/status"
t_count = base + b"/count"
t_cmd = base + b"/cmd"
t_echo = base + b"/echo"
t_flood = b"hanmq-flood/" + cfg["cid"].encode()
ssl_params = None
if cfg["ca"]:
    import ssl

    with open(cfg["ca"], "rb") as f:
        ssl_params = {
            "cert_reqs": ssl.CERT_REQUIRED,
            "cadata": f.read(),
            "server_hostname": cfg["sni"],
        }
link = MQTTLink(
    cfg["cid"],
    cfg["host"],
    int(cfg["port"]),
    user=cfg["user"] or None,
    password=cfg["password"] or None,
    tls=cfg["tls"] == "1",
    keepalive=int(cfg["keepalive"]),
    timeout_s=int(cfg["timeout"]),
    will_topic=t_status,
    will_msg=b"offline",
    log=log,
    ssl_params=ssl_params,
)
link.backoff = Backoff(int(cfg["first_ms"]), int(cfg["cap_ms"]), 30000)
link.refused_ms = int(cfg["refused_ms"])
state = {"flood": False, "quit": False, "n": 0}


def on_connect():
    link.publish(t_status, b"online", True)
    print("EVENT connected", link.reconnects + 1)


def on_cmd(topic, msg):
    print("RX", topic.decode(), msg.decode())
    link.publish(t_echo, b"echo:" + msg)
    if msg == b"flood":
        state["flood"] = True
    elif msg == b"quit":
        state["quit"] = True


link.on_connect = on_connect
link.subscribe(t_cmd, on_cmd)

ticks_ms, ticks_diff = time.ticks_ms, time.ticks_diff
start = last_pub = ticks_ms()
pub_ms = int(cfg["pub_ms"])
run_ms = int(cfg["run_s"]) * 1000
worst = 0
big = bytes(65536)
while not state["quit"] and ticks_diff(ticks_ms(), start) < run_ms:
    now = ticks_ms()
    link.service(now)
    dt = ticks_diff(ticks_ms(), now)
    if link.connected() and ticks_diff(now, last_pub) >= pub_ms:
        last_pub = now
        state["n"] += 1
        t0 = ticks_ms()
        ok = link.publish(t_count, b"%d" % state["n"])
        dt = max(dt, ticks_diff(ticks_ms(), t0))
        print("PUB", state["n"], "ok" if ok else "fail")
    if state["flood"] and link.connected():
        t0 = ticks_ms()
        ok = link.publish(t_flood, big)
        d = ticks_diff(ticks_ms(), t0)
        dt = max(dt, d)
        if not ok:
            state["flood"] = False
            print("FLOODFAIL", d)
    if dt > worst:
        worst = dt
        print("MAXBLOCK", worst)
    time.sleep_ms(10)
link.close()
print("DONE", link.reconnects, link.connect_failures, link.state)
