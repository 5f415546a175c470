# test_host_deps.py: tools/host_deps.sh, what `make test` and `make demo` run first on a
# fresh machine: with everything there it does nothing; with a package missing it runs
# apt-get when it may (root, or sudo without a password) and otherwise stops at once
# with the one command to run.
# MIT license; Copyright (c) 2026 hanmq
#
# The machine is faked where the script asks it: `id`, `sudo` and `apt-get` are small
# scripts first on PATH that record how they were called, and "python" is one whose
# venv module is missing (so python3-venv is what lacks).

import os
import stat
import subprocess

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "tools", "host_deps.sh")


def fake(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run(tmp_path, uid, sudo_ok, python=None, what="demo"):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    fake(bin_dir / "id", "echo %d" % uid)
    fake(bin_dir / "sudo", ('[ "$1" = -n ] && exit %d\necho "sudo $*" >> %s\n"$@"'
                            % (0 if sudo_ok else 1, calls)))
    fake(bin_dir / "apt-get", 'echo "apt-get $*" >> %s' % calls)
    py = python or fake(tmp_path / "python-without-venv", "exit 1")
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    out = subprocess.run(["sh", SCRIPT, what, py], capture_output=True, text=True, env=env,
                         timeout=30)
    return out, calls.read_text().splitlines() if calls.exists() else []


def test_nothing_missing_runs_no_apt_get(tmp_path):
    import sys

    out, calls = run(tmp_path, uid=1000, sudo_ok=False, python=sys.executable)
    assert out.returncode == 0, out.stderr
    assert calls == [] and out.stderr == ""


def test_as_root_it_installs_what_is_missing(tmp_path):
    out, calls = run(tmp_path, uid=0, sudo_ok=False)
    assert out.returncode == 0, out.stderr
    assert calls[0] == "apt-get update -q"  # once, before the install
    assert calls[1].startswith("apt-get install -y") and calls[1].endswith(" python3-venv")
    assert len(calls) == 2


def test_with_passwordless_sudo_it_installs_through_sudo(tmp_path):
    out, calls = run(tmp_path, uid=1000, sudo_ok=True)
    assert out.returncode == 0, out.stderr
    assert calls[0] == "sudo apt-get update -q" and calls[1] == "apt-get update -q"
    assert "python3-venv" in calls[-1] and calls[-1].startswith("apt-get install")


def test_without_root_or_sudo_it_stops_with_the_command(tmp_path):
    out, calls = run(tmp_path, uid=1000, sudo_ok=False)
    assert out.returncode == 1
    assert calls == []  # nothing was tried
    assert "sudo apt-get install -y python3-venv" in out.stderr
