# esp32s2_mini.py: Wemos/Lolin S2 Mini (ESP32-S2FN4R2).
# MIT license; Copyright (c) 2026 hanmq
#
# Meter on UART1, RX on GPIO18; the console is on native USB. LED on GPIO15.

NAME = "esp32s2_mini"
ARCH = "xtensawin"
FIRMWARE = "LOLIN_S2_MINI"
UART_ID = 1
RX_PIN = 18
INVERT_RX = False
LED_PIN = 15
LED_ACTIVE_LOW = False
BUTTON_PIN = 0  # button 0 (BOOT)
# Self-test only (make selftest): a wire from this pin to RX_PIN loops the UART back.
# GPIO17 is UART1's default TX pin (GPIO18 its default RX): not a strapping pin (0, 45,
# 46), not flash or PSRAM (26-32), not USB (19, 20), not the LED (15) or the button (0).
# Normal operation drives no TX pin.
LOOPBACK_TX_PIN = 17
