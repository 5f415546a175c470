# micropython.py: the few MicroPython built-ins the firmware uses, for CPython.
# MIT license; Copyright (c) 2026 hanmq
#
# DO NOT UPLOAD THIS FILE TO YOUR MICROPYTHON DEVICE. On a board (and in the unix
# port) the real built-in module is used; this directory is on sys.path only when
# the firmware runs under CPython (tests and host tools).


def const(x):
    return x


def native(f):
    return f


viper = native
