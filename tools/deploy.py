#!/usr/bin/env python3
# deploy.py: build a board's tree and copy to the board only the files that differ.
# MIT license; Copyright (c) 2026 hanmq
#
#   python tools/deploy.py --port /dev/ttyUSB0 --board esp32_devkit [--config local.json]
#                          [--dry-run] [--target-dir DIR]
#   make deploy PORT=/dev/ttyUSB0 BOARD=esp32_devkit [CONFIG=local.json] [DRY_RUN=1]
#
# 1. tools/build.py writes build/<board>/ (firmware as .mpy, main.py, board.mpy,
#    umqtt/simple.mpy).
# 2. The board hashes its own files (`mpremote run tools/board_files.py`: one round
#    trip that prints the sha256 of every file, the MicroPython version and the last
#    deploy's manifest).
# 3. One mpremote run, chained with `+`, then makes the directories that are missing,
#    copies the files whose sha256 differs, installs the config (if --config), removes
#    what the previous deploy left that this one no longer has and any X.py that would
#    be imported instead of our X.mpy (MicroPython looks for .py first), writes the
#    manifest /.hanmq-manifest last, and resets the board.
#
# Why the board's own hashes and not only a manifest: a manifest says what the last
# deploy meant to write, not what is on the flash. A deploy cut short (unplugged, or
# the firmware's watchdog resetting the board while mpremote holds it), a file copied
# by hand, or a board flashed afresh would all make a manifest lie and a deploy skip
# files it must copy. Hashes computed on the board cannot lie, cost one round trip
# (the tree is about 50 KB, read and hashed on the board itself), and make an
# interrupted deploy safe to run again: it copies what is still different. The
# manifest is kept only to know which files are ours, so files this deploy no longer
# has can be removed without touching anything else (config.json, boot.py, yours).
#
# --config FILE: a config.json prepared on this computer (skip the setup page). It is
# validated with firmware/config.py first; an invalid one is refused with the field
# errors and nothing is copied. It is written as config.tmp and renamed over
# config.json on the board, as the firmware itself saves it. Without --config the
# board's config.json is never touched.
#
# --dry-run prints the mpremote commands and touches nothing; the board is not asked
# for its files, so the copy command shown is the one for an empty board.
# --target-dir DIR deploys into a local directory instead of a board (same plan).
#
# Exit status: 0 deployed (or nothing to do, or printed), 1 refused or mpremote failed,
# 2 bad arguments.

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import build  # noqa: E402
import flash  # noqa: E402  (the pinned MicroPython version and chips)
import serialport  # noqa: E402

MANIFEST = ".hanmq-manifest"
CONFIG = "config.json"
CONFIG_TMP = "config.tmp"
#: Files a deploy never removes, whatever a manifest says.
KEEP = (CONFIG, CONFIG_TMP, MANIFEST, "boot.py")
LISTER = os.path.join(HERE, "board_files.py")
MPY_MAJOR = 6  # mpy-cross 1.29.0 writes .mpy 6.3; a 6.x runtime loads bytecode-only files
TIMEOUT_S = 120


class Refused(Exception):
    pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def local_tree(out, board):
    """Build the tree and return {relative path: sha256} of what it holds."""
    build.build(out, board)
    return {rel: sha256_file(os.path.join(out, rel)) for rel in build.tree(board)}


def manifest_text(files, board):
    lines = ["# hanmq deploy manifest: board %s, MicroPython %s; written by tools/deploy.py"
             % (board, flash.VERSION)]
    lines += ["%s  %s" % (files[rel], rel) for rel in sorted(files)]
    return "\n".join(lines) + "\n"


def parse_manifest(lines):
    """({path: sha256}, board name or None) from the manifest's lines."""
    files, board = {}, None
    for line in lines:
        if line.startswith("#"):
            if " board " in line:
                board = line.split(" board ", 1)[1].split(",", 1)[0].strip()
            continue
        parts = line.split(None, 1)
        if len(parts) == 2:
            files[parts[1].strip()] = parts[0]
    return files, board


class BoardState:
    """What is on the board: {file: sha256}, directories, the previous manifest
    ({file: sha256} or None) and the MicroPython it runs."""

    def __init__(self, files=None, dirs=None, manifest=None, manifest_board=None, mpy=None,
                 version=None, machine=None):
        self.files = files or {}
        self.dirs = set(dirs or ())
        self.manifest = manifest
        self.manifest_board = manifest_board
        self.mpy = mpy
        self.version = version
        self.machine = machine


def parse_listing(text):
    """BoardState from board_files.py's output."""
    st = BoardState()
    manifest = None
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "I":
            parts = rest.split(" ", 2)
            st.mpy = int(parts[0])
            st.version = parts[1] if len(parts) > 1 else None
            st.machine = parts[2] if len(parts) > 2 else None
        elif tag == "D":
            st.dirs.add(rest)
        elif tag == "F":
            sha, _, path = rest.partition(" ")
            st.files[path] = sha
        elif tag == "M":
            manifest = (manifest or []) + [rest]
    if st.mpy is None:
        raise Refused("the board did not answer the file listing:\n" + text.strip())
    if manifest is not None:
        st.manifest, st.manifest_board = parse_manifest(manifest)
    return st


class Plan:
    def __init__(self):
        self.mkdirs = []  # directories to make, parents first
        self.copies = []  # tree files to copy
        self.config = False  # install config.json
        self.removes = []  # board files to delete
        self.manifest = False  # write the manifest

    def empty(self):
        return not (self.mkdirs or self.copies or self.config or self.removes or self.manifest)


def plan(local, state, config_sha=None):
    """What to do so the board holds `local` ({path: sha256}); config_sha: the sha256
    of a config.json to install, or None to leave the board's alone."""
    p = Plan()
    p.copies = [rel for rel in sorted(local) if state.files.get(rel) != local[rel]]
    if "main.py" in p.copies:  # the entry point last: a cut-short deploy does not
        p.copies.remove("main.py")  # start a new main.py with old modules
        p.copies.append("main.py")
    for rel in p.copies:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in state.dirs and d not in p.mkdirs:
                p.mkdirs.append(d)
    p.config = config_sha is not None and state.files.get(CONFIG) != config_sha
    removes = set()
    for rel in state.manifest or {}:  # ours from an earlier deploy, gone from this one
        if rel not in local and rel in state.files and rel not in KEEP:
            removes.add(rel)
    for rel in local:  # X.py beside our X.mpy would be imported instead of it
        if rel.endswith(".mpy"):
            shadow = rel[:-4] + ".py"
            if shadow in state.files and shadow not in local and shadow not in KEEP:
                removes.add(shadow)
    p.removes = sorted(removes)
    p.manifest = bool(p.copies or p.removes) or state.manifest != local
    return p


def refuse_incompatible(state, board, warn):
    """Refuse a board whose MicroPython cannot load the build; warn on a different
    version, chip or board than last time."""
    if state.mpy is None:
        return
    if state.mpy & 0xFF != MPY_MAJOR:
        raise Refused(
            "the board runs MicroPython %s, whose .mpy format (v%d) cannot load this build "
            "(v%d.x from mpy-cross %s): flash MicroPython %s first with "
            "make flash PORT=... BOARD=%s"
            % (state.version, state.mpy & 0xFF, MPY_MAJOR, flash.VERSION, flash.VERSION, board)
        )
    if state.version and state.version != flash.VERSION:
        warn("the board runs MicroPython %s; this firmware is tested with %s (make flash)"
             % (state.version, flash.VERSION))
    chip = flash.IMAGES.get(flash.board_setting(board, "FIRMWARE"), {}).get("chip")
    if chip and state.machine and " with " in state.machine:
        mcu = state.machine.rsplit(" with ", 1)[1].replace("-", "").upper()
        if mcu != chip.upper():
            warn("the board says it is '%s', but boards/%s.py is for an %s: wrong BOARD=?"
                 % (state.machine, board, chip.upper()))
    if state.manifest_board and state.manifest_board != board:
        warn("the board was deployed as %s before; now as %s (board.mpy changes)"
             % (state.manifest_board, board))


# ---- the two kinds of target behind one small interface: inspect() and apply() ----


class MpremoteBoard:
    """A board on a serial port, driven by mpremote (pinned in requirements-dev.txt)."""

    def __init__(self, port, run=subprocess.run, log=print):
        self.port = port
        self.run = run
        self.log = log

    def mpremote(self):
        return [sys.executable, "-m", "mpremote", "connect", self.port]

    def inspect_command(self):
        return self.mpremote() + ["run", LISTER]

    def inspect(self):
        cmd = self.inspect_command()
        self.log("$ " + shlex.join(cmd))
        r = self.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        if r.returncode:
            raise Refused(
                "mpremote could not read the board's files (exit %d): %s\nPress the board's "
                "reset button (EN/RST) and run it again."
                % (r.returncode, (r.stderr or r.stdout).strip())
            )
        return parse_listing(r.stdout)

    def apply_command(self, p, tree_dir, config_file=None, manifest_file=None):
        cmd = self.mpremote()
        steps = [["fs", "mkdir", ":/" + d] for d in p.mkdirs]
        steps += [["fs", "cp", "-f", os.path.join(tree_dir, rel), ":/" + rel]
                  for rel in p.copies]
        if p.config:
            steps.append(["fs", "cp", "-f", config_file, ":/" + CONFIG_TMP])
            steps.append(["exec", "import os; os.rename('/%s', '/%s')" % (CONFIG_TMP, CONFIG)])
        steps += [["fs", "rm", ":/" + rel] for rel in p.removes]
        if p.manifest:
            steps.append(["fs", "cp", "-f", manifest_file, ":/" + MANIFEST])
        steps.append(["reset"])
        for i, step in enumerate(steps):
            cmd += (["+"] if i else []) + step
        return cmd

    def apply(self, p, tree_dir, config_file=None, manifest_file=None):
        cmd = self.apply_command(p, tree_dir, config_file, manifest_file)
        self.log("$ " + shlex.join(cmd))
        rc = self.run(cmd).returncode
        if rc:
            raise Refused(
                "mpremote failed (exit %d). Run make deploy again: it copies only what is "
                "still different." % rc
            )


class DirectoryBoard:
    """A directory standing in for a board's filesystem (tests, --target-dir)."""

    def __init__(self, root, mpy=MPY_MAJOR | 3 << 8, version=flash.VERSION, machine=None):
        self.root = root
        self.mpy = mpy
        self.version = version
        self.machine = machine
        self.resets = 0

    def inspect(self):
        st = BoardState(mpy=self.mpy, version=self.version, machine=self.machine)
        for d, dirs, files in os.walk(self.root):
            rel_d = os.path.relpath(d, self.root).replace(os.sep, "/")
            rel_d = "" if rel_d == "." else rel_d + "/"
            for name in dirs:
                st.dirs.add(rel_d + name)
            for name in files:
                st.files[rel_d + name] = sha256_file(os.path.join(d, name))
        path = os.path.join(self.root, MANIFEST)
        if os.path.exists(path):
            with open(path) as f:
                st.manifest, st.manifest_board = parse_manifest(f.read().splitlines())
        return st

    def _path(self, rel):
        return os.path.join(self.root, *rel.split("/"))

    def apply(self, p, tree_dir, config_file=None, manifest_file=None):
        for d in p.mkdirs:
            os.mkdir(self._path(d))
        for rel in p.copies:
            shutil.copyfile(os.path.join(tree_dir, rel), self._path(rel))
        if p.config:
            shutil.copyfile(config_file, self._path(CONFIG_TMP))
            os.replace(self._path(CONFIG_TMP), self._path(CONFIG))
        for rel in p.removes:
            os.remove(self._path(rel))
        if p.manifest:
            shutil.copyfile(manifest_file, self._path(MANIFEST))
        self.resets += 1


# ---- config ----


def _config_module():
    spec = importlib.util.spec_from_file_location(
        "hanmq_config", os.path.join(ROOT, "firmware", "config.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def prepare_config(path, board, dest, warn):
    """Validate the local config file and write the cleaned config.json to `dest`.
    Raise Refused with every field error."""
    config = _config_module()
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        raise Refused("cannot read config %s: %s" % (path, e.strerror)) from None
    except ValueError as e:
        raise Refused("config %s is not valid JSON: %s" % (path, e)) from None
    if isinstance(cfg, dict):
        unknown = sorted(k for k in cfg if k != "v" and k not in config.KEYS)
        if unknown:
            warn("config %s: unknown setting(s) ignored: %s" % (path, ", ".join(unknown)))
        if "board" not in cfg:
            cfg["board"] = board
        elif cfg["board"] != board:
            warn("config %s says board %r; deploying for %s" % (path, cfg["board"], board))
    errors = config.save(cfg, dest)
    if errors:
        raise Refused(
            "config %s is not valid, nothing was copied:\n%s"
            % (path, "\n".join("  %s: %s" % (k, errors[k]) for k in sorted(errors)))
        )
    os.chmod(dest, 0o600)


# ---- the whole deploy ----


def deploy(target, board, out, config_path=None, dry_run=False, log=print, warn=None):
    """Build, compare, copy. Returns the Plan carried out (or shown)."""
    warn = warn or (lambda text: log("deploy: warning: " + text))
    work = tempfile.mkdtemp(prefix="hanmq-deploy-")  # the config (secrets) stays private
    try:
        config_file = None
        config_sha = None
        if config_path:
            config_file = os.path.join(work, CONFIG)
            prepare_config(config_path, board, config_file, warn)
            config_sha = sha256_file(config_file)
        local = local_tree(out, board)
        manifest_file = out.rstrip("/\\") + ".manifest"
        with open(manifest_file, "w") as f:
            f.write(manifest_text(local, board))
        if dry_run and isinstance(target, MpremoteBoard):
            log("$ " + shlex.join(target.inspect_command()))
            log("deploy: dry run: the board is not asked for its files; as for an empty board:")
            state = BoardState()
        else:
            state = target.inspect()
            refuse_incompatible(state, board, warn)
        p = plan(local, state, config_sha)
        if p.empty():
            log("deploy: the board is up to date (%d files); nothing copied" % len(local))
            return p
        log("deploy: %d of %d file(s) to copy%s%s" % (
            len(p.copies), len(local), ", config.json to install" if p.config else "",
            ", %d to remove (%s)" % (len(p.removes), ", ".join(p.removes)) if p.removes else ""))
        if dry_run:
            if isinstance(target, MpremoteBoard):
                log("$ " + shlex.join(target.apply_command(p, out, config_file, manifest_file)))
            return p
        target.apply(p, out, config_file, manifest_file)
        log("deploy: done; the board restarts with the new files")
        return p
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Copy the board's tree, only what changed.")
    ap.add_argument("--board", required=True, help="one of: " + ", ".join(build.boards()))
    ap.add_argument("--port", default="", help="serial port, e.g. /dev/ttyUSB0")
    ap.add_argument("--config", help="a config.json to install (validated first)")
    ap.add_argument("--out", help="build directory (default build/<board>)")
    ap.add_argument("--dry-run", action="store_true", help="print the mpremote commands only")
    ap.add_argument("--target-dir", help="deploy into this directory instead of a board")
    a = ap.parse_args(argv)
    if a.board not in build.boards():
        print("deploy: unknown board %r: choose one of %s" % (a.board, ", ".join(build.boards())),
              file=sys.stderr)
        return 2
    out = a.out or os.path.join(ROOT, "build", a.board)
    try:
        if a.target_dir:
            os.makedirs(a.target_dir, exist_ok=True)
            target = DirectoryBoard(a.target_dir)
        else:
            if not a.dry_run:
                serialport.check(a.port)
            target = MpremoteBoard(a.port or "PORT")
        deploy(target, a.board, out, a.config, a.dry_run)
    except (Refused, serialport.PortError) as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
