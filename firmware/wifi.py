# wifi.py: keep the station joined to the home network.
# MIT license; Copyright (c) 2026 hanmq
#
# The ESP32 driver connects in the background; this only starts an attempt, waits
# for it, and starts another after a pause when it fails or the link drops. The
# credentials are never deleted on failure: a router reboot must not send the
# dongle back to setup mode.

import time

#: How long one attempt may take before the next one, and the pause between them.
ATTEMPT_MS = 20000
PAUSE_MS = 5000


class WiFi:
    def __init__(self, sta, ssid, password, log=None):
        self.sta = sta
        self.ssid = ssid
        self.password = password
        self.log = log
        self.up = False
        self.reconnects = 0
        self._attempt = None  # ticks of the running attempt

    def service(self, now):
        sta = self.sta
        if sta.isconnected():
            if not self.up:
                self.up = True
                self._attempt = None
                if self.log:
                    self.log("I", "Wi-Fi: joined %s", self.ssid)
            return True
        if self.up:
            self.up = False
            self.reconnects += 1
            if self.log:
                self.log("W", "Wi-Fi: lost %s", self.ssid)
        if self._attempt is None or time.ticks_diff(now, self._attempt) > ATTEMPT_MS + PAUSE_MS:
            self._attempt = now
            try:
                sta.disconnect()
                sta.connect(self.ssid, self.password)
            except OSError as e:
                if self.log:
                    self.log("W", "Wi-Fi: cannot start joining %s: %s", self.ssid, e)
        return False

    def rssi(self):
        try:
            return self.sta.status("rssi")
        except (OSError, ValueError, TypeError):
            return 0
