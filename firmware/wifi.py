# wifi.py: keep the station joined to the home network.
# MIT license; Copyright (c) 2026 hanmq
#
# The ESP32 port joins in the background and, once connect() has asked it to, joins
# again by itself after every drop, for ever (ports/esp32/network_wlan.c: the
# STA_DISCONNECTED handler). disconnect() takes that request back, so it is never
# called here. connect() is called once, and again only when the station has stayed
# down RETRY_MS (an attempt the port no longer makes); while the port is still trying,
# connect() fails with an OSError, which changes nothing. The credentials are never
# deleted on failure: a router reboot must not send the dongle back to setup mode.

import time

#: How long the station may stay down before connect() is asked for again.
RETRY_MS = 60000


class WiFi:
    def __init__(self, sta, ssid, password, log=None):
        self.sta = sta
        self.ssid = ssid
        self.password = password
        self.log = log
        self.up = False
        self.reconnects = 0
        self._attempt = None  # ticks of the last connect() (or of the drop), while down

    def service(self, now):
        """True while joined."""
        sta = self.sta
        if sta.isconnected():
            if not self.up:
                self.up = True
                self._attempt = None
                self._say("I", "Wi-Fi: joined %s", self.ssid)
            return True
        if self.up:
            self.up = False
            self.reconnects += 1
            self._attempt = now  # the port rejoins by itself: give it RETRY_MS
            self._say("W", "Wi-Fi: lost %s", self.ssid)
        if self._attempt is None or time.ticks_diff(now, self._attempt) >= RETRY_MS:
            first = self._attempt is None
            self._attempt = now
            try:
                sta.connect(self.ssid, self.password)
            except OSError as e:
                # the port is still trying ("Wifi Internal Error"): nothing to do
                self._say("W" if first else "D", "Wi-Fi: connect to %s: %s", self.ssid, e)
        return False

    def rssi(self):
        try:
            return self.sta.status("rssi")
        except (OSError, ValueError, TypeError):
            return 0

    def _say(self, level, msg, *args):
        if self.log:
            self.log(level, msg, *args)
