# admin.py: the status page's requests in normal operation (loaded per visit).
# MIT license; Copyright (c) 2026 hanmq
#
#   GET  /           latest values, the diagnostics published on MQTT (counters,
#                    uptime, free heap, RSSI), connections, settings with secrets
#                    masked, recent log lines
#   POST /settings   restart into settings mode: the settings form on the home network
#                    (portal/setup.py); the meter is read there, nothing published
#
# Everything is behind the admin password (HTTP Basic, RFC 7617, any user name). The
# page has its own small style: the setup pages' module is not loaded for it.

import time

from han import fields
from portal.http import DENIED, authorized, error, esc, head
from publisher import json_fields

_HEAD = (
    b'<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport '
    b'content="width=device-width,initial-scale=1"><link rel=icon href="data:,">%s'
    b"<title>hanmq</title><style>body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;"
    b"max-width:34rem;padding:.6rem;background:#eef1f5;color:#16202c}section{background:"
    b"#fff;border-radius:.5rem;padding:.5rem .9rem;margin:0 0 .8rem}h1{font-size:1.3rem}"
    b"h2{font-size:1rem;margin:.3rem 0}table{width:100%%;border-collapse:collapse}"
    b"td{border-bottom:1px solid #e6e9ee;padding:.25rem 0}td+td{text-align:right;"
    b"padding-left:.5rem;word-break:break-all}pre{white-space:pre-wrap;font-size:.75rem}"
    b"button{width:100%%;padding:.8rem;font-size:1rem;border:0;border-radius:.5rem;"
    b"background:#0a5cc2;color:#fff}</style></head><body><h1>%s</h1>"
)


def handle(st, req):
    """st: the status.Visit, which knows the dongle."""
    if not authorized(req.auth, st.dongle.cfg["admin_password"]):
        return (DENIED,)
    if req.path == b"/" and req.method == b"GET":
        return _status(st)
    if req.path == b"/settings" and req.method == b"POST":
        with open(st.path + ".setup", "w") as f:  # read once, by the next start
            f.write("1")
        st.log("I", "status page: settings form asked for: restarting")
        st.restart = time.ticks_ms()
        return (head(), _HEAD % (b'<meta http-equiv=refresh content="8;url=/">', b"Restarting"),
                b"<section><p>hanmq restarts to show the settings form here. This page "
                b"reloads by itself in a few seconds.</p></section>")
    return (error(b"404 Not Found"),)


def _table(title, rows):
    yield b"<section><h2>%s</h2><table>" % title
    for k, v in rows:
        yield b"<tr><td>%s</td><td>%s</td></tr>" % (esc(k), esc(v))
    yield b"</table></section>"


def _status(st):
    d = st.dongle
    now = time.ticks_ms()
    yield head()
    yield _HEAD % (b"", b"hanmq status")
    yield from _table(b"Meter", _meter(st, now))
    yield from _table(b"Energy and capacity tariff", _energy(d))
    yield from _table(b"Diagnostics", json_fields(d.diagnostics(now)))  # as on MQTT
    yield from _table(b"Connections", _links(d))
    yield from _table(b"Settings", json_fields(st.settings))
    yield b"<section><h2>Recent log</h2><pre>"
    for line in st.log.recent():
        yield esc(line) + b"\n"
    yield (
        b"</pre></section><form method=post action=/settings><button>Change settings"
        b"</button></form><p>The dongle restarts to show the settings form, and publishes the "
        b'readings again once you save or leave it. <a href="/">Refresh</a></p><p>hanmq %s '
        b"&middot; %s</p></body></html>" % (st.version.encode(), d.node.encode())
    )


def _meter(st, now):
    d = st.dongle
    silent = d.meter_silent_s()
    if silent >= 60:
        yield "meter", "silent for %s: is the HAN port open? Is the cable in?" % _span(silent)
    if d.read_s is None:
        yield "readings", "none yet"
        return
    yield "readings", "%d, the last %d s ago" % (d.readings, d.uptime.s - d.read_s)
    dec = d.decoder
    if dec.unknown != d.read_unknown:
        yield "last frame", "not understood"
        return
    rd = dec.reading  # the latest reading, as published
    for fid in range(fields.COUNT):
        if rd.has[fid]:
            unit = fields.UNITS[fields.KINDS[fid]]
            yield fields.name(fid), rd.value_text(fid) + (" " + unit if unit else "")


def _energy(d):
    """The live registers (the ones for Home Assistant's energy dashboard) and the
    capacity figures as last published (DESIGN.md 5)."""
    from energy import kwh_text

    for reg in d.energy.regs:
        if reg.anchored:
            yield reg.name.decode(), kwh_text(reg.shown()) + " kWh"
    if d.energy.repeated:
        yield "hours_repeated_by_meter", d.energy.repeated
    if d.capacity_text is None:
        if d.energy.capacity is not None:
            yield "capacity", "after the meter's first hourly list"
        return
    import json

    c = json.loads(d.capacity_text)
    yield "capacity_month", "%s (%s)" % (c["month"], c["model"])
    yield "capacity_step", "%d (average %s kW; limits %s kW)" % (
        c["step"], c["average_kw"], ", ".join(str(x) for x in c["step_limits_kw"]))
    for p in c["peaks"]:
        yield "peak", "%s kWh on %s, %02d:00-%02d:00" % (p["kwh"], p["date"], p["hour"], (p["hour"] + 1) % 24)
    if c["hour_kwh"] is not None:
        yield "this_hour", "%s kWh, %s kWh by its end at this power" % (c["hour_kwh"], c["hour_estimate_kwh"])
    if c["headroom_kw"] is not None:
        yield "headroom", "%s kW on average for the rest of the hour keeps step %d" % (c["headroom_kw"], c["step"])


def _span(s):
    """3 d 4 h, 2 h 5 min, 7 min 30 s"""
    if s >= 86400:
        return "%d d %d h" % (s // 86400, s % 86400 // 3600)
    if s >= 3600:
        return "%d h %d min" % (s // 3600, s % 3600 // 60)
    return "%d min %d s" % (s // 60, s % 60)


def _links(d):
    w = d.wifi
    link = d.link
    yield "wifi", ("joined " if w.up else "joining ") + w.ssid
    yield "mqtt", "%s, %s:%d" % (link.state, link.host, link.port)
    if link.last_error:
        yield "mqtt_last_error", link.last_error
    yield "readings_published", d.pub.published
    yield "readings_waiting", len(d.pub.outbox)
