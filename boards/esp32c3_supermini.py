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
# Self-test only (make selftest): a wire from this pin to RX_PIN loops the UART back.
# GPIO10, the pin next to GPIO20 on the header. Not GPIO21, although it is labelled TX:
# it is UART0's TX, where MicroPython's ESP32_GENERIC_C3 build keeps a REPL besides the
# USB one (MICROPY_HW_ENABLE_UART_REPL). GPIO10 is not a strapping pin (2, 8, 9), not
# flash (11-17), not USB (18, 19), not the LED (8) or the button (9). Normal operation
# drives no TX pin.
LOOPBACK_TX_PIN = 10
