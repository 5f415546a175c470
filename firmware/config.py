# config.py: the dongle's settings: defaults, validation, atomic load and save.
# MIT license; Copyright (c) 2026 hanmq
#
# config.json holds one flat JSON object (DESIGN.md section 6). It is written to a
# temporary file that is then renamed over the old one: LittleFS renames atomically,
# so a power cut leaves either the old or the new file, never half of one. A missing
# or invalid file means setup mode; nothing here ever raises on bad content.

import json
import os

SCHEMA_VERSION = 1

METERS = ("auto", "aidon", "kaifa", "kamstrup", "landis_gyr")
#: Capacity tariff models (DESIGN.md section 5): the mean of the three highest daily
#: maximum hours of the month (most Norwegian grid companies), or the single highest.
CAPACITY_MODELS = ("top3_daily", "max_hour", "off")
#: Upper limits in kW of the capacity steps: a typical grid company's (0-2, 2-5, ... kW).
CAPACITY_STEPS = "2,5,10,15,20,25,50,75,100"
SECRETS = ("wifi_password", "mqtt_password", "admin_password")

# key: (default, kind, min, max). Kinds: "s" text (min/max bytes), "i" integer
# (range), "b" boolean, "t" MQTT topic, "h" host name, "c" client id, "m" meter,
# "k" capacity model, "l" capacity step limits (kW, comma separated, rising).
_FIELDS = {
    "wifi_ssid": ("", "s", 1, 32),
    "wifi_password": ("", "p", 0, 63),
    "mqtt_host": ("", "h", 1, 253),
    "mqtt_port": (1883, "i", 1, 65535),
    "mqtt_user": ("", "s", 0, 64),
    "mqtt_password": ("", "s", 0, 64),
    "mqtt_tls": (False, "b", 0, 0),
    "mqtt_base_topic": ("", "t", 0, 64),
    "mqtt_client_id": ("", "c", 0, 23),
    "ha_discovery": (True, "b", 0, 0),
    "ha_prefix": ("homeassistant", "t", 1, 64),
    "raw_frames": (False, "b", 0, 0),
    "board": ("esp32_devkit", "c", 1, 23),
    "admin_password": ("", "s", 8, 64),
    "meter": ("auto", "m", 0, 0),
    "watchdog": (True, "b", 0, 0),
    "capacity_model": ("top3_daily", "k", 0, 0),
    "capacity_steps_kw": (CAPACITY_STEPS, "l", 1, 120),
    # Home Assistant 2025.6 and later know device class reactive_energy; older ones
    # refuse a config that names it, so by default the kvarh sensors have no class.
    "ha_reactive_class": (False, "b", 0, 0),
    "diagnostics_s": (60, "i", 1, 86400),  # seconds between diagnostics messages  # off while developing: it resets a board sitting in the REPL
}

KEYS = tuple(sorted(_FIELDS))


def defaults():
    cfg = {"v": SCHEMA_VERSION}
    for k in _FIELDS:
        cfg[k] = _FIELDS[k][0]
    return cfg


def _printable(s):
    for ch in s:
        if ch < " " or ch == "\x7f":
            return False
    return True


def _check(key, value):
    """The cleaned value, or raise ValueError with a message for a person."""
    default, kind, lo, hi = _FIELDS[key]
    if kind == "b":
        if value is True or value is False:
            return value
        raise ValueError("must be true or false")
    if kind == "i":
        if isinstance(value, str):
            value = value.strip()
            if not value.isdigit():
                raise ValueError("must be a number")
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ValueError("must be a number from %d to %d" % (lo, hi))
        return value
    if not isinstance(value, str):
        raise ValueError("must be text")
    if kind == "m" or kind == "k":
        choices = METERS if kind == "m" else CAPACITY_MODELS
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices))
        return value
    if kind == "l":
        return ",".join(str(x) for x in step_limits(value))
    n = len(value.encode())
    if kind == "p":  # WPA2: empty (open network), 8..63 characters, or 64 hex digits
        if n == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
            return value
        if n and not 8 <= n <= 63:
            raise ValueError("must be 8 to 63 characters (or empty for an open network)")
    elif n < lo or n > hi:
        if lo and not n:
            raise ValueError("is required")
        raise ValueError("must be %d to %d characters" % (lo, hi) if lo else "must be at most %d characters" % hi)
    if not _printable(value):
        raise ValueError("must not contain control characters")
    if kind == "h":
        for ch in value:
            if not (ch.isalpha() or ch.isdigit() or ch in ".-:_"):
                raise ValueError("must be a host name or IP address")
    elif kind == "c":
        for ch in value:
            if not (ch.isalpha() or ch.isdigit() or ch in "_-"):
                raise ValueError("may use letters, digits, _ and - only")
    elif kind == "t":
        if "+" in value or "#" in value or value.startswith("/") or value.endswith("/"):
            raise ValueError("must not contain + or # or start or end with /")
    return value


def step_limits(text):
    """Capacity step limits as a list of kW numbers (int or float), rising; raises
    ValueError with a message for a person."""
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            x = float(part) if "." in part else int(part)
        except ValueError:
            raise ValueError("must be numbers in kW separated by commas, rising")
        if not 0 < x <= 10000 or (out and x <= out[-1]):
            raise ValueError("must be numbers in kW separated by commas, rising")
        out.append(x)
    if len(out) > 20:
        raise ValueError("must be at most 20 steps")
    return out


def validate(cfg):
    """(clean config, errors): errors maps a key to a message; empty when valid.
    Unknown keys are dropped; missing keys take their defaults."""
    clean = defaults()
    errors = {}
    if not isinstance(cfg, dict):
        return clean, {"v": "not a settings object"}
    v = cfg.get("v", SCHEMA_VERSION)
    if v != SCHEMA_VERSION:
        errors["v"] = "unknown settings version %r" % (v,)
    for key in _FIELDS:
        if key in cfg:
            try:
                clean[key] = _check(key, cfg[key])
            except ValueError as e:
                errors[key] = e.args[0]
        elif _FIELDS[key][1] in "sh" and _FIELDS[key][2] > 0:
            errors[key] = "is required"
    return clean, errors


def load(path):
    """(config, problem): the valid config, or None and why (never raises)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError:
        return None, "no settings file"
    except ValueError:
        return None, "settings file is not valid JSON"
    cfg, errors = validate(data)
    if errors:
        key = sorted(errors)[0]
        return None, "setting %s %s" % (key, errors[key])
    return cfg, None


def save(cfg, path):
    """Validate and write atomically. Returns the errors (nothing written if any)."""
    clean, errors = validate(cfg)
    if errors:
        return errors
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(clean, f)
    os.rename(tmp, path)  # atomic replace on LittleFS and POSIX
    return {}


def masked(cfg):
    """A copy safe to show or log: secrets replaced by '***' (or '' when unset)."""
    out = {}
    for k in cfg:
        out[k] = ("***" if cfg[k] else "") if k in SECRETS else cfg[k]
    return out
