# form.py: the settings form: the page, and a submission turned into saved settings.
# MIT license; Copyright (c) 2026 hanmq
#
# Shown by the setup access point and, behind the admin password, in settings mode on
# the home network. Validation and the atomic write are config.py's (config.save):
# nothing here judges a value. Password fields are never filled in.

import config
from portal.http import same
from portal.pages import end, esc, start

_NET = b'<label class=net><input type=radio name=wifi_ssid value="%s"%s><span>%s</span><small>%s</small></label>'
_LABEL = b"<label for=%s>%s</label>"
_INPUT = b'<input type=%s id=%s name=%s value="'
_INPUT_END = b'"%s%s>'
_PASSWORD = b'<input type=password id=%s name=%s autocomplete=new-password placeholder="%s"%s>'
_CHECK = b"<label class=chk><input type=checkbox name=%s%s>%s</label>"
_HINT = b"<p class=hint>%s</p>"
_PLAIN = b" autocapitalize=none autocorrect=off spellcheck=false maxlength="
_SET = b"<fieldset><legend>%s</legend>"
_SET_END = b"</fieldset>"

#: What a message is about, per field: "This port must be a number from 1 to 65535."
_ABOUT = {
    "wifi_ssid": "network name",
    "wifi_password": "password",
    "mqtt_host": "host",
    "mqtt_port": "port",
    "mqtt_user": "user name",
    "mqtt_password": "password",
    "mqtt_base_topic": "topic",
    "admin_password": "password",
    "current_password": "password",
    "capacity_model": "model",
    "capacity_steps_kw": "list of steps",
}
_OPTION = b'<option value=%s%s>%s</option>'
#: The capacity models (config.CAPACITY_MODELS) as a person reads them.
_MODELS = (
    (b"top3_daily", b"3 highest days' top hours (most)"),
    (b"max_hour", b"The month's highest hour"),
    (b"off", b"Off"),
)


#: Form fields kept at most.
FIELDS_MAX = 16


def _hex(c):
    """The value of one hex digit (a byte), or -1."""
    if 48 <= c <= 57:
        return c - 48
    c |= 32  # lower case
    return c - 87 if 97 <= c <= 102 else -1


def _unquote(mv):
    """Form decoding (WHATWG urlencoded): + is a space, %XX a byte; a % without two
    hex digits stays. In place (the text only gets shorter): returns the new length."""
    n = len(mv)
    i = j = 0
    while i < n:
        c = mv[i]
        if c == 43:  # +
            c = 32
        elif c == 37 and i + 2 < n:  # %XX
            hi = _hex(mv[i + 1])
            lo = _hex(mv[i + 2])
            if hi >= 0 and lo >= 0:
                c = hi << 4 | lo
                i += 2
        mv[j] = c
        i += 1
        j += 1
    return j


def field(req, mv):
    """One name=value of a form body (the HTTP server's field hook; mv views it in the
    request's buffer): decoded there, in place, into req.form. Text that is not UTF-8
    is refused."""
    n = len(mv)
    eq = 0
    while eq < n and mv[eq] != 61:  # =
        eq += 1
    if not eq or len(req.form) >= FIELDS_MAX:
        return None
    try:
        key = str(mv[: _unquote(mv[:eq])], "utf-8")
        value = mv[eq + 1 :]
        req.form[key] = str(value[: _unquote(value)], "utf-8")
    except ValueError:  # UnicodeError is one
        return b"400 Bad Request"
    return None


def stored(current):
    """The secrets that have a value now (their fields say "unchanged")."""
    return tuple(k for k in config.SECRETS if current and current.get(k))


def _signal(rssi, secure):
    s = "strong" if rssi >= -60 else "good" if rssi >= -70 else "weak"
    return "%s, %d dBm%s" % (s, rssi, "" if secure else ", open")


def _bad(key, err):
    return b" aria-invalid=true aria-describedby=err-%s" % key.encode() if key in err else b""


def _error(key, err):
    if key in err:
        yield b"<p class=err id=err-%s>%s</p>" % (
            key.encode(), esc("This %s %s." % (_ABOUT[key], err[key])))


def _input(kind, k, value, extra, bad):
    # The value goes out as a chunk of its own: escaped text shares the string's bytes,
    # so a long value is never copied into a larger formatted chunk (a large block is
    # what a fragmented heap lacks).
    yield _INPUT % (kind, k, k)
    yield esc(value)
    yield _INPUT_END % (extra, bad)


def _text(key, label, v, err, extra, kind=b"text"):
    k = key.encode()
    yield _LABEL % (k, label)
    yield from _input(kind, k, v.get(key, ""), extra, _bad(key, err))
    yield from _error(key, err)


def _password(key, label, have, err, hint=b""):
    k = key.encode()
    yield _LABEL % (k, label)
    yield _PASSWORD % (k, k, b"unchanged (leave empty to keep)" if key in have else b"",
                       _bad(key, err))
    yield from _error(key, err)
    if hint:
        yield _HINT % hint


def _check(key, label, v):
    yield _CHECK % (key.encode(), b" checked" if v.get(key) else b"", label)


def page(v, err, nets, have, title, note, footer, topic, meter=None, locked=False):
    """The form. v: the settings to show (secrets are never read from it: password
    fields are always empty); err: key -> message; nets: [(ssid, rssi, secure)]
    strongest first; have: secrets with a current value; topic: the default base
    topic; meter: a line (HTML) on what the meter sends; locked: saving needs the
    admin password now saved (a field of its own, first)."""
    yield from start(title)
    yield b"<p>%s</p>" % note
    if meter:
        yield b"<section><h2>Meter</h2><p id=meter>%s</p></section>" % meter
    if err:
        yield b"<div class=box role=alert>Please correct the marked fields."
        for k in err:
            if k not in _ABOUT:  # not shown at a field of its own
                yield b"<br>%s %s." % (esc(k), esc(err[k]))
        yield b" Passwords are not kept: enter them again.</div>"
    yield b"<form method=post action=/>"
    if locked:
        yield _SET % b"Admin password"
        yield from _password("current_password", b"The admin password saved now", (), err,
                             b"Needed to change the settings here.")
        yield _SET_END
    # Wi-Fi: a network from the scan, or a name typed in (which wins)
    ssid = v.get("wifi_ssid", "")
    listed = False
    yield _SET % b"Wi-Fi network"
    for name, rssi, secure in nets:
        mine = name == ssid
        listed = listed or mine
        yield _NET % (esc(name), b" checked" if mine else b"", esc(name), esc(_signal(rssi, secure)))
    if not nets:
        yield _HINT % b"No networks found."
    yield b'<p class=hint><a href="/scan">Scan again</a></p>'
    yield _LABEL % (b"ssid_other", b"Other network (hidden or not listed)")
    yield from _input(b"text", b"ssid_other", "" if listed else ssid, _PLAIN + b"32",
                      _bad("wifi_ssid", err))
    yield from _error("wifi_ssid", err)
    yield from _password("wifi_password", b"Wi-Fi password", have, err,
                         b"Empty for an open network.")
    yield _SET_END
    yield _SET % b"MQTT broker"
    yield from _text("mqtt_host", b"Host name or IP address", v, err, _PLAIN + b"253")
    yield from _text("mqtt_port", b"Port", v, err, b" min=1 max=65535", b"number")
    yield from _text("mqtt_user", b"User name (optional)", v, err, _PLAIN + b"64")
    yield from _password("mqtt_password", b"Password (optional)", have, err)
    yield from _check("mqtt_tls", b"TLS (port 8883 on most brokers)", v)
    yield from _text("mqtt_base_topic", b"Base topic (empty: %s)" % esc(topic), v, err,
                     _PLAIN + b"64")
    yield _SET_END
    yield _SET % b"Home Assistant"
    yield from _check("ha_discovery", b"Announce the sensors (MQTT discovery)", v)
    yield from _check("ha_reactive_class", b"Reactive energy as such (Home Assistant 2025.6 or later)", v)
    yield _SET_END
    yield _SET % b"Capacity tariff (kapasitetsledd)"
    yield _LABEL % (b"capacity_model", b"How your grid company sets the monthly step")
    yield b"<select id=capacity_model name=capacity_model>"
    for value, text in _MODELS:
        yield _OPTION % (value, b" selected" if v.get("capacity_model") == value.decode() else b"", text)
    yield b"</select>"
    yield from _error("capacity_model", err)
    yield from _text("capacity_steps_kw", b"Upper limits of the steps, kW", v, err, _PLAIN + b"120")
    yield _HINT % b"Rising, separated by commas, as your grid company lists them."
    yield _SET_END
    yield _SET % b"Admin password"
    yield from _password("admin_password", b"Password for the status page", have, err,
                         b"8 to 64 characters.")
    yield _SET_END
    yield b"<button>Save</button></form>"
    yield end(footer)


def submit(form, current, path, locked=False):
    """Apply a submitted form over the current settings (or the defaults) and save
    them atomically. Returns (values, errors): nothing is written when errors (key ->
    message) is not empty. locked: the form's current_password must be the admin
    password saved."""
    old = current or {}
    if locked and not same(form.get("current_password", "").encode(),
                           old.get("admin_password", "").encode()):
        v = dict(current)
        for k in ("mqtt_host", "mqtt_port", "mqtt_user", "mqtt_base_topic"):
            v[k] = form.get(k, v[k])
        return v, {"current_password": "is not the admin password saved"}
    v = dict(current) if current else config.defaults()
    ssid = form.get("ssid_other", "") or form.get("wifi_ssid", "")
    v["wifi_ssid"] = ssid
    for k in ("mqtt_host", "mqtt_port", "mqtt_base_topic"):
        v[k] = form.get(k, "").strip()  # phones add spaces
    v["mqtt_user"] = form.get("mqtt_user", "")
    v["mqtt_tls"] = "mqtt_tls" in form  # a box is sent only when ticked
    v["ha_discovery"] = "ha_discovery" in form
    v["ha_reactive_class"] = "ha_reactive_class" in form
    for k in ("capacity_model", "capacity_steps_kw"):
        if k in form:  # (a page from before these fields keeps them as they are)
            v[k] = form[k].strip()
    # A secret left empty keeps the current one while it still belongs to what it was
    # for: the Wi-Fi password to the same network, the MQTT password to the same user.
    # Otherwise empty means none (an open network, an anonymous broker).
    keep = (
        ssid == old.get("wifi_ssid"),
        v["mqtt_user"] == old.get("mqtt_user"),
        True,
    )
    for i, k in enumerate(("wifi_password", "mqtt_password", "admin_password")):
        v[k] = form.get(k, "") or (old.get(k, "") if keep[i] else "")
    try:
        errors = config.save(v, path)
    except OSError as e:  # the flash is full or failing
        errors = {"settings file": "could not be written (%s)" % e}
    return v, errors
