# test_config.py: settings validation and the atomic save, on both interpreters.
# MIT license; Copyright (c) 2026 hanmq

import json
import os

import pytest
from conftest import ROOT, run_micropython

import config

GOOD = {
    "wifi_ssid": "Home net",
    "wifi_password": "correct horse",
    "mqtt_host": "192.168.1.10",
    "mqtt_port": 1883,
    "admin_password": "s3cret-admin",
}

BAD = [
    ("wifi_ssid", "", "is required"),
    ("wifi_ssid", "x" * 33, "1 to 32"),
    ("wifi_password", "short", "8 to 63"),
    ("mqtt_host", "my broker", "host name"),
    ("mqtt_port", 0, "1 to 65535"),
    ("mqtt_port", "70000", "1 to 65535"),
    ("mqtt_port", "12a", "number"),
    ("mqtt_base_topic", "home/#", "+ or #"),
    ("mqtt_client_id", "a b", "letters"),
    ("mqtt_tls", "yes", "true or false"),
    ("admin_password", "1234", "8 to 64"),
    ("meter", "elster", "one of"),
    ("wifi_ssid", "evil\x00ssid", "control"),
]


def test_good_settings_validate_and_fill_defaults():
    clean, errors = config.validate(GOOD)
    assert errors == {}
    assert clean["ha_discovery"] is True and clean["meter"] == "auto" and clean["v"] == 1


@pytest.mark.parametrize("key,value,message", BAD)
def test_each_bad_field_is_refused_with_a_message(key, value, message):
    cfg = dict(GOOD, **{key: value})
    _, errors = config.validate(cfg)
    assert list(errors) == [key] and message in errors[key]


def test_save_is_atomic_and_refuses_bad_settings(tmp_path):
    path = str(tmp_path / "config.json")
    assert config.save(GOOD, path) == {}
    before = open(path).read()
    errors = config.save(dict(GOOD, mqtt_port=99999), path)
    assert "mqtt_port" in errors
    assert open(path).read() == before  # nothing written
    assert os.listdir(tmp_path) == ["config.json"]  # no temporary file left


def test_missing_half_written_or_invalid_file_means_setup_mode(tmp_path):
    path = str(tmp_path / "config.json")
    assert config.load(path) == (None, "no settings file")
    open(path, "w").write('{"wifi_ssid": "Home", "mqtt_ho')  # power cut while writing
    cfg, problem = config.load(path)
    assert cfg is None and "JSON" in problem
    json.dump(dict(GOOD, mqtt_port=-1), open(path, "w"))
    cfg, problem = config.load(path)
    assert cfg is None and "mqtt_port" in problem


def test_masked_hides_every_secret():
    clean, _ = config.validate(GOOD)
    shown = json.dumps(config.masked(clean))
    for secret in ("correct horse", "s3cret-admin"):
        assert secret not in shown


def test_same_verdicts_under_micropython(tmp_path):
    script = tmp_path / "cfg.py"
    script.write_text(
        "import sys, json\n"
        "sys.path.insert(0, 'firmware')\n"
        "import config\n"
        "good, bad = json.load(open(sys.argv[1]))\n"
        "for key, value, _ in bad:\n"
        "    c = dict(good); c[key] = value\n"
        "    print(key, json.dumps(sorted(config.validate(c)[1].items())))\n"
        "p = sys.argv[2]\n"
        "print(config.save(good, p), config.load(p)[1])\n"
    )
    # (data in a file: the unix port 1.29 preview aborts on long command-line arguments)
    (tmp_path / "cases.json").write_text(json.dumps([GOOD, BAD]))
    out = run_micropython([str(script), str(tmp_path / "cases.json"), str(tmp_path / "c.json")])
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().splitlines()
    for (key, value, _), line in zip(BAD, lines):
        c = dict(GOOD, **{key: value})
        assert line == "%s %s" % (key, json.dumps(sorted(config.validate(c)[1].items())))
    assert lines[-1] == "{} None"
    assert ROOT
