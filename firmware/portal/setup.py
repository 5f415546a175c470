# setup.py: setup mode: the settings form, on the setup access point or the home network.
# MIT license; Copyright (c) 2026 hanmq
#
# Access point (no valid settings; the setup button; the home network not joined for
# minutes): a phone joins the open network hanmq-XXXX, its captive-portal probe is
# resolved by the catch-all DNS to this dongle and redirected to the form, which the
# phone shows in its sign-in sheet (style.md section 3). After a save the access point
# closes and run() returns; the caller restarts into normal operation. Opened because
# the home network could not be joined ("wifi"), the form asks for the admin password
# (anyone near can join the access point), and the station keeps trying the saved
# network: joined, the dongle goes back to normal operation by itself. Opened by the
# button with settings saved, it goes back after ten minutes without a save.
#
# Settings mode (asked for on the status page, "lan"): the same form on the home
# network, behind the admin password (HTTP Basic), no DNS; a save, or ten minutes
# without one, restarts the dongle. The mode comes from the flag file path +
# ".setup" (app.setup_asked), removed here: the next start is a normal one.
#
# In both the meter is read (nothing is published): the page says what it sends, so
# the cable and the HAN port can be checked while setting up.

import gc
import os
import time

import config
import hw
from han import fields
from portal import form
from portal.http import DENIED, Server, authorized, error, head, listen
from portal.pages import esc, message

#: Networks listed at most (a scan in a block of flats finds dozens).
MAX_NETS = 20
#: After a save, the answer page gets this long to go out.
CLOSE_MS = 3000
#: After the answer's connection is closed, this long before the access point closes
#: or the board resets: the network stack is still sending what was written.
LINGER_MS = 1000
#: Bytes allocated between two collections while serving.
THRESHOLD = 2048
#: Settings mode (and the button's access point) give up after this long without a save.
SETTINGS_S = 600


def redirect(location):
    """302 with a short body: iOS opens its captive sheet only when there is one
    (ESP-IDF captive portal example)."""
    body = b'<a href="%s">Setup</a>' % location
    return b"HTTP/1.0 302 Found\r\nLocation: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        location, len(body), body)


def scan():
    """[(ssid, rssi, secure)] from a Wi-Fi scan: strongest first, each name once,
    hidden networks and names that are not UTF-8 left out."""
    try:
        found = hw.station().scan()  # (ssid, bssid, channel, RSSI, security, hidden)
    except OSError:
        return []
    best = {}
    for t in found:
        if not t[0] or t[5]:
            continue
        try:
            name = str(t[0], "utf-8")
        except ValueError:
            continue
        if name not in best or t[3] > best[name][0]:
            best[name] = (t[3], t[4] != 0)
    nets = [(n, best[n][0], best[n][1]) for n in best]
    nets.sort(key=lambda n: (-n[1], n[0]))
    return nets[:MAX_NETS]


class Portal:
    def __init__(self, log, path, bufs, meter=None, mode="ap"):
        self.log = log
        self.path = path
        self.meter = meter
        self.readings = 0
        self.uptime = log.clock  # seconds since start, ticked every turn
        self.read_s = None  # uptime seconds of the latest reading
        self.power = self.maker = self.model = None  # from the latest readings
        if meter:
            meter.decoder.on_reading = self._on_reading
        self.saved = None  # ticks of the save
        hexid = "".join("%02x" % b for b in hw.unique_id())
        self.topic = "hanmq/hanmq_" + hexid  # the default base topic
        self.name = "hanmq-" + hexid[-4:]  # the last 2 bytes of the chip id
        self.current = c = config.load(path)[0]
        try:
            os.remove(path + ".setup")  # once only: the next start is a normal one
        except OSError:
            pass
        self.lan = mode == "lan" and c is not None
        self.locked = mode == "wifi" and c is not None  # the form asks the admin password
        self.back = False  # the home network joined again: back to normal operation
        self.dns = self.wifi = None
        if c is not None and mode != "ap":
            from wifi import WiFi

            hw.hostname(self.name)
            self.wifi = WiFi(hw.station(), c["wifi_ssid"], c["wifi_password"], log)
        if self.lan:
            ip, port = hw.status_addr()
            where = "port %d on %s" % (port, c["wifi_ssid"])
        else:
            from portal.dns import DNSServer

            ip = hw.ap_open(self.name)
            port, dns_port = hw.portal_ports()
            host = (ip if port == 80 else "%s:%d" % (ip, port)).encode()
            self.hosts = (host, ip.encode() + b":80")
            self.home = b"http://%s/" % host
            self.dns = DNSServer(ip, dns_port)
            where = "access point %s, http://%s/, DNS port %d" % (self.name, host.decode(), dns_port)
        self.nets = scan()
        self.http = Server(listen(ip, port, len(bufs)), self.handle, bufs, log, form.field)
        log("I", "setup: %s, %d networks found", where, len(self.nets))

    def _on_reading(self, rd):
        self.readings += 1
        self.read_s = self.uptime.s
        if rd.has[fields.ACTIVE_POWER_IMPORT]:
            self.power = rd.value_text(fields.ACTIVE_POWER_IMPORT)
        # list 1 names no meter: keep what list 2 said
        if rd.has[fields.METER_MANUFACTURER]:
            self.maker = rd.text[fields.METER_MANUFACTURER]
        if rd.has[fields.METER_TYPE]:
            self.model = rd.text[fields.METER_TYPE]

    def meter_text(self):
        """One line on what the meter sends (HTML), or None when it is not read."""
        m = self.meter
        if m is None:
            return None
        d = m.decoder
        if self.read_s is not None:
            return b"%s %s: <b>%s W</b> now. %d readings, the last %d s ago." % (
                esc(self.maker or "Meter"), esc(self.model or ""), esc(self.power or "?"),
                self.readings, self.uptime.s - self.read_s)
        if m.bytes:
            return (b"Data arrives (%d bytes), but no frame has passed its checks yet (%d "
                    b"failed). The dongle tries both serial settings (8E1, 8N1) by itself; "
                    b"if this stays, check the cable." % (m.bytes, d.bad_crc + d.bad_length + d.unknown))
        return (b"Nothing received yet. The grid company must open the HAN port (ask it "
                b"if in doubt); check the cable. Readings come every 2 to 10 s.")

    def close(self):
        self.http.close()
        if self.dns:
            self.dns.close()
            hw.ap_close()
            self.log("I", "setup: access point %s closed", self.name)

    def handle(self, req):
        page = req.path == b"/" or req.path == b"/scan"
        if self.lan:
            if not authorized(req.auth, self.current["admin_password"]):
                return (DENIED,)
            if not page:
                return (error(b"404 Not Found"),)
        elif req.host and req.host not in self.hosts or not page:
            # An OS probe, a page the phone had open, any unknown path: to the form
            # (style.md section 3, guidance 1).
            return (redirect(self.home),)
        if req.method == b"POST":
            return self._submit(req.form)
        if req.method != b"GET":
            return (error(b"405 Method Not Allowed", b"Allow: GET, POST\r\n"),)
        if req.path == b"/scan":
            self.nets = scan()
        return self._form(self.current or config.defaults(), {})

    def _footer(self):
        gc.collect()
        return b"%s &middot; free heap %d KB" % (self.name.encode(), hw.free_heap() // 1024)

    def _form(self, values, errors):
        yield head()
        if self.lan:
            note = b"Saving restarts the dongle with the new settings."
        elif self.locked:
            note = (b"hanmq could not join <b>%s</b> for some minutes and keeps trying. "
                    b"Correct the settings here, or leave them: once the network is back, "
                    b"hanmq goes on by itself." % esc(self.current["wifi_ssid"]))
        else:
            note = b"Connect <b>%s</b> to your home network and MQTT broker." % self.name.encode()
        if self.current:
            note += b" The current settings are shown; passwords left empty are kept."
        yield from form.page(values, errors, self.nets, form.stored(self.current),
                             "hanmq settings" if self.lan else "hanmq setup", note,
                             self._footer(), self.topic, self.meter_text(), self.locked)

    def _submit(self, fields):
        values, errors = form.submit(fields, self.current, self.path, self.locked)
        if errors:
            # which fields, never what was typed (a password may be among them)
            self.log("W", "setup: not saved, check %s", ", ".join(sorted(errors)))
            return self._form(values, errors)
        self.saved = time.ticks_ms()
        self.log("I", "setup: saved: Wi-Fi %s, MQTT %s:%s", values["wifi_ssid"],
                 values["mqtt_host"], values["mqtt_port"])
        return self._saved(values)

    def _saved(self, values):
        if self.lan:
            text = b"hanmq restarts with the new settings."
        else:
            text = (
                b"hanmq is joining <b>%s</b> and will publish to <b>%s:%s</b>. This access "
                b"point closes now: join your home network again. The status page is at "
                b"the dongle's address there, behind the admin password."
                % (esc(values["wifi_ssid"]), esc(values["mqtt_host"]), esc(values["mqtt_port"]))
            )
        yield head()
        yield from message("Saved", (text,), self.name.encode())

    def service(self, now):
        """One pass; returns (busy, finished)."""
        up = self.uptime.tick(now)
        busy = bool(self.meter and self.meter.poll())
        http = self.http
        busy = http.service(now) or busy
        if self.dns:
            busy = self.dns.service() or busy
        if self.saved is None and not self.back:
            if self.wifi and self.wifi.service(now) and self.locked:
                self.log("I", "setup: %s joined again: back to normal operation", self.wifi.ssid)
                self.back = True
            elif self.current is not None and not self.locked and up > SETTINGS_S:
                self.log("W", "setup: nothing saved: back to normal operation")
                self.back = True
        if self.saved is None and not self.back:
            return busy, False
        # the last answer out, and what the network stack still holds sent, first
        if http.busy():
            return busy, self.saved is not None and time.ticks_diff(now, self.saved) > CLOSE_MS
        return busy, http.closed_ms is None or time.ticks_diff(now, http.closed_ms) >= LINGER_MS


def run(log, path, bufs, meter=None, mode="ap"):
    """Serve the form until settings are saved (or normal operation can go on), then
    return 0 (the caller restarts). bufs: the HTTP connections' buffers; meter: a
    MeterUART to read meanwhile; mode: a portal.SETUP_WHY key."""
    p = Portal(log, path, bufs, meter, mode)
    gc.collect()
    log("I", "setup: free heap %d", hw.free_heap())
    # Collect after every few KB allocated, not only when the heap runs out: garbage
    # left to pile up spreads the live objects made meanwhile over the whole free heap,
    # and a page's larger blocks (a settings dict: 23 slots) then find no room.
    gc.threshold(THRESHOLD)
    try:
        while True:
            busy, done = p.service(time.ticks_ms())
            if done:
                break
            if not busy:
                time.sleep_ms(10)
    finally:
        p.close()
    return 0
