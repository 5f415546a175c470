# serialport.py: say clearly why a serial port cannot be used, before a tool tries it.
# MIT license; Copyright (c) 2026 hanmq
#
# esptool, mpremote and pyserial report a missing, busy or forbidden port with a stack
# trace or a one-word errno. flash.py, deploy.py and capture.py call check() first and
# print its message instead. CPython standard library only.

import errno
import glob
import os
import stat

#: What a person types after the tool name when no port was given.
EXAMPLE = "/dev/ttyUSB0"


class PortError(Exception):
    pass


def candidates():
    """The serial ports this computer shows now (Linux and macOS names)."""
    found = []
    for pattern in ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/cu.usbserial*", "/dev/cu.usbmodem*",
                    "/dev/cu.wchusbserial*", "/dev/cu.SLAB_USBtoUART*"):
        found.extend(sorted(glob.glob(pattern)))
    return found


def _seen():
    ports = candidates()
    if not ports:
        return "no serial ports seen: is the cable a data cable?"
    return "ports seen: " + ", ".join(ports)


def holders(port):
    """(pid, program) of other processes that have the port open (Linux /proc; only the
    processes this user may inspect)."""
    try:
        target = os.path.realpath(port)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    me = os.getpid()
    out = []
    for pid in pids:
        if int(pid) == me:
            continue
        fds = "/proc/%s/fd" % pid
        try:
            for fd in os.listdir(fds):
                try:
                    if os.readlink(os.path.join(fds, fd)) == target:
                        with open("/proc/%s/comm" % pid) as f:
                            out.append((int(pid), f.read().strip()))
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return out


def _busy(port, who=()):
    text = "%s is busy: another program has it open" % port
    if who:
        text += " (%s)" % ", ".join("pid %d %s" % w for w in who)
    return PortError(
        text + ". Close it (a serial monitor, screen, minicom, mpremote, another make "
        "target) and try again."
    )


def _group(port):
    try:
        import grp

        return grp.getgrgid(os.stat(port).st_gid).gr_name
    except (ImportError, KeyError, OSError):
        return "dialout"


def check(port, flag="PORT"):
    """Raise PortError with a message for a person when `port` cannot be opened for
    reading and writing now; return None when it can."""
    if not port:
        raise PortError(
            "no serial port given: pass %s=%s (%s)" % (flag, EXAMPLE, _seen())
        )
    if os.name == "nt":  # COM3: no device node to look at; the tool itself will say
        return
    if not os.path.exists(port):
        raise PortError(
            "no serial port %s: plug the board in, or pass %s=... (%s)" % (port, flag, _seen())
        )
    if not stat.S_ISCHR(os.stat(port).st_mode):
        raise PortError("%s is not a serial port (not a character device)" % port)
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            group = _group(port)
            raise PortError(
                "permission denied on %s: add yourself to the '%s' group "
                "(sudo usermod -aG %s $USER), then log out and in again" % (port, group, group)
            ) from None
        if e.errno == errno.EBUSY:
            raise _busy(port, holders(port)) from None
        if e.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            raise PortError(
                "no serial port %s: plug the board in, or pass %s=... (%s)" % (port, flag, _seen())
            ) from None
        raise PortError("cannot open %s: %s" % (port, e.strerror)) from None
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # pyserial's exclusive=True lock
            fcntl.flock(fd, fcntl.LOCK_UN)
        except ImportError:
            pass
        except OSError:
            raise _busy(port, holders(port)) from None
    finally:
        os.close(fd)
    who = holders(port)
    if who:
        raise _busy(port, who)
