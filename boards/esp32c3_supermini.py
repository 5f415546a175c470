# esp32c3_supermini.py: ESP32-C3 SuperMini (and similar ESP32-C3 mini boards).
# MIT license; Copyright (c) 2026 hanmq
#
# Meter on UART1, RX on GPIO20 (the pin labelled RX); the console is on USB (USB-CDC),
# so UART1 is free. The on-board LED (GPIO8) lights when the pin is low.

NAME = "esp32c3_supermini"
ARCH = "rv32imc"
FIRMWARE = "ESP32_GENERIC_C3"
UART_ID = 1
RX_PIN = 20
INVERT_RX = False
LED_PIN = 8
LED_ACTIVE_LOW = True
BUTTON_PIN = 9  # BOOT button
