#!/usr/bin/env python3
# broker.py: run a real local MQTT broker (mosquitto if installed, else the embedded
# minibroker) for demos and tests.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/broker.py [--port N] [--kind mosquitto|minibroker] [--user NAME:PASSWORD]
#
# runs the broker in the foreground on 127.0.0.1 until Ctrl-C. host_tests/broker.py
# imports Broker from here, so the tests and `make demo` use the same setup.
#
# mosquitto is Debian's package (`apt-get install mosquitto`; /usr/sbin/mosquitto), the
# reference broker. minibroker (tools/minibroker.py, pure Python, MQTT 3.1.1) is the
# embedded default when mosquitto is missing; it needs nothing but Python. Both run as
# a child process, so stop() really closes every connection and the port. HANMQ_BROKER=
# mosquitto|minibroker chooses the default kind (make test runs the suites on each).

import argparse
import getpass
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref

_HERE = os.path.dirname(os.path.abspath(__file__))
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
KINDS = ("mosquitto", "minibroker")


def mosquitto_path():
    for p in MOSQUITTO_PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("mosquitto")


def available_kinds():
    """The brokers this machine can run, preferred first (minibroker always runs)."""
    return (["mosquitto"] if mosquitto_path() else []) + ["minibroker"]


def default_kind():
    """$HANMQ_BROKER when set, else mosquitto when installed, else minibroker."""
    kind = os.environ.get("HANMQ_BROKER")
    if not kind:
        return available_kinds()[0]
    if kind not in KINDS:
        raise RuntimeError("HANMQ_BROKER=%s: not one of %s" % (kind, ", ".join(KINDS)))
    if kind not in available_kinds():
        raise RuntimeError("HANMQ_BROKER=%s, but mosquitto is not installed "
                           "(apt-get install mosquitto)" % kind)
    return kind


def _minibroker():
    spec = importlib.util.spec_from_file_location(
        "hanmq_minibroker", os.path.join(_HERE, "minibroker.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port(host="127.0.0.1"):
    s = socket.socket()
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Broker:
    """A broker process on host:port. users={"name": "password"} turns on authentication
    with anonymous access off; without it anyone may connect."""

    def __init__(self, port=None, users=None, kind=None, host="127.0.0.1", echo=False, tls=False):
        self.echo = echo  # broker output to our stderr instead of a log file
        self.tls = tls  # TLS only, with a fresh self-signed certificate (needs openssl)
        self.cafile = None  # that certificate (PEM), for clients to verify the broker
        self.cafile_der = None
        self.kind = kind or default_kind()
        if self.kind not in KINDS:
            raise ValueError("unknown broker kind %r" % self.kind)
        self.host = host
        self.port = port or free_port(host)
        self.users = dict(users or {})
        self.proc = None
        self._dir = None
        self._cleanup = None
        self._log = None

    # -- configuration -----------------------------------------------------------------

    def _make_cert(self, d):
        # EC P-256, valid for "localhost" and the listening address, for 2 days
        key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                key,
                "-out",
                cert,
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:%s" % self.host,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "openssl",
                "x509",
                "-in",
                cert,
                "-outform",
                "der",
                "-out",
                os.path.join(d, "cert.der"),
            ],
            check=True,
            capture_output=True,
        )
        self.cafile = cert
        self.cafile_der = os.path.join(d, "cert.der")  # the same, DER (MicroPython's cadata)
        return key, cert

    def _write_config(self):
        # once per Broker: a restart keeps the same files (and certificate); they are
        # removed by close(), or when the Broker is collected or Python exits
        fresh = self._dir is None
        if fresh:
            self._dir = tempfile.mkdtemp(prefix="hanmq-broker-")
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        d = self._dir
        if self.tls:
            key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
            if fresh:
                self._make_cert(d)
        if self.kind == "mosquitto":
            lines = [
                "listener %d %s" % (self.port, self.host),
                "allow_anonymous %s" % ("false" if self.users else "true"),
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                # mosquitto started as root drops to user "mosquitto", which could not read
                # the temporary password file; stay the user we are.
                "user %s" % getpass.getuser(),
            ]
            if self.tls:
                lines += ["certfile %s" % cert, "keyfile %s" % key]
            if self.users:
                pw = os.path.join(d, "passwd")
                open(pw, "w").close()
                os.chmod(pw, 0o600)
                for name, password in self.users.items():
                    subprocess.run(
                        [_mosquitto_passwd(), "-b", pw, name, password],
                        check=True,
                        capture_output=True,
                    )
                lines.append("password_file %s" % pw)
            path = os.path.join(d, "mosquitto.conf")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            return [mosquitto_path(), "-c", path]
        # minibroker: the embedded one, this directory's minibroker.py
        cmd = [sys.executable, os.path.join(_HERE, "minibroker.py"), "--host", self.host,
               "--port", str(self.port)]
        if self.tls:
            cmd += ["--cert", cert, "--key", key]
        if self.users:
            pw = os.path.join(d, "passwd")
            with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                for name, password in self.users.items():
                    f.write(_minibroker().password_line(name, password))
            cmd += ["--passwd", pw]
        return cmd

    # -- life cycle --------------------------------------------------------------------

    def start(self, timeout=15):
        if self.proc is not None:
            return self
        if port_open(self.host, self.port):
            raise RuntimeError(
                "port %d is already in use (a system broker? try --port)" % self.port
            )
        cmd = self._write_config()
        out = None
        if not self.echo:
            out = self._log = open(os.path.join(self._dir, "broker.log"), "w+b")
        self.proc = p = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT if out else None, stdin=subprocess.DEVNULL
        )
        # never leave a broker running behind a test run or a demo that crashed
        self._reaper = weakref.finalize(self, _reap, p)
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.close()
                raise RuntimeError(
                    "%s did not start on port %d:\n%s" % (self.kind, self.port, log)
                )
            time.sleep(0.05)
        return self

    def stop(self, timeout=10):
        """Stop the process (SIGTERM, then SIGKILL) and wait until the port refuses."""
        p, self.proc = self.proc, None
        if p is not None:
            self._reaper.detach()
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)  # in case it was paused
                except OSError:
                    pass
                p.terminate()
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout)
            deadline = time.monotonic() + timeout
            while port_open(self.host, self.port) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self):
        """stop(), then remove the configuration, password file and certificate."""
        self.stop()
        if self._dir is not None:
            self._cleanup()
            self._dir = None
            self.cafile = self.cafile_der = None

    def restart(self):
        """Stop and start again on the same port (clients see their connection drop)."""
        self.stop()
        return self.start()

    def pause(self):
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers, as with
        a half-open TCP connection or a hung broker."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<Broker %s %s:%d>" % (self.kind, self.host, self.port)


def _reap(p):
    if p.poll() is None:
        p.kill()
        p.wait()


def _mosquitto_passwd():
    p = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not os.access(p, os.X_OK):
        raise RuntimeError("mosquitto_passwd not found (Debian package mosquitto)")
    return p


def use(hostport=None):
    """(host, port, embedded broker or None): the broker named "HOST:PORT", or a local
    one started here (default_kind()) that the caller stops."""
    if hostport:
        host, port = hostport.rsplit(":", 1)
        return host, int(port), None
    b = Broker().start()
    return b.host, b.port, b


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run a local MQTT broker in the foreground.")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--kind", choices=KINDS, help="default: $HANMQ_BROKER, else mosquitto if installed, else minibroker")
    ap.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="require this login (repeatable); anonymous access is then off",
    )
    ap.add_argument(
        "--tls",
        action="store_true",
        help="TLS only, with a self-signed certificate (path printed)",
    )
    args = ap.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    try:
        b = Broker(args.port, users, args.kind, args.host, echo=True, tls=args.tls).start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print("broker: %s" % e, file=sys.stderr)
        return 1
    print(
        "broker: %s listening on %s:%d%s%s (Ctrl-C stops)"
        % (
            b.kind,
            b.host,
            b.port,
            ", login required" if users else "",
            ", TLS, CA certificate %s" % b.cafile if b.tls else "",
        ),
        flush=True,
    )
    # SIGTERM, and SIGINT even when started in the background (where it is ignored)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        b.proc.wait()
        print("broker: %s exited" % b.kind, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        b.close()


if __name__ == "__main__":
    sys.exit(main())
