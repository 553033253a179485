# CRONOS pipeline. `make run` and `make test` do all set-up on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint format typecheck bench clean deps dataset dataset-all scapy-dataset model reliability

help:  ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned: an unpinned resolver would pull a multi-GB CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) deps  ## Create the virtual environment and install what is missing

deps:  ## System tools: tshark (labels captures), mosquitto (MQTT), chromium (status page test), prometheus + promtool (deploy/ tests); apt-get when root
	@command -v tshark >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark; else echo "tshark missing: sudo apt-get install tshark (or your OS's wireshark-cli package)"; fi; }
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto; else echo "mosquitto missing (MQTT tests, make run): sudo apt-get install mosquitto"; fi; }
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; else echo "chromium missing (status page test): sudo apt-get install chromium"; fi; }
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; else echo "prometheus/promtool missing (deploy/ tests): sudo apt-get install prometheus"; fi; }

run: $(STAMP)  ## Run the main job on the embedded stack (Ctrl-C stops everything it started)
	$(VENV)/bin/cronos run

test: $(STAMP) deps lint  ## Lint, type-check and run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff (lint + format check), mypy and the import rules (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	@# bench/ holds scripts, not a package, so import-linter cannot see it: grep instead.
	@! grep -rnE '^\s*(from|import) tests(\.|\s|$$)' bench/ || { echo "bench/ must not import tests"; exit 1; }

format: $(STAMP)  ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

PCAP_PROTOCOLS := modbus dns ntp dhcp nbns smb dnp3
PCAP_TEST := --test '*_deduped-1000.pcap' --test '*_deduped-982-1000.pcap' --test iti__modbus_test.pcap --test iti__dnp3_test_data_part1.pcap

dataset: $(STAMP) deps  ## Label data/captures with tshark → data/datasets/pcap/{train,test}.jsonl
	for p in $(PCAP_PROTOCOLS); do $(VENV)/bin/cronos dataset from-pcap data/captures/$$p/*.pcap -p $$p -o data/datasets/raw/$$p.jsonl || exit 1; done
	$(VENV)/bin/cronos dataset split data/datasets/raw/*.jsonl $(PCAP_TEST) --max-train-per-file 1000 -o data/datasets/pcap

dataset-all: $(STAMP) deps  ## Every deduplicated message of data/captures (no per-file cap) → data/datasets/pcap-all (not committed)
	for p in $(PCAP_PROTOCOLS); do $(VENV)/bin/cronos dataset from-pcap data/captures/$$p/*.pcap -p $$p -o data/datasets/raw/$$p.jsonl || exit 1; done
	$(VENV)/bin/cronos dataset split data/datasets/raw/*.jsonl $(PCAP_TEST) --max-train-per-file 1000000 -o data/datasets/pcap-all

scapy-dataset: $(STAMP)  ## Generate data/datasets/scapy.jsonl with scapy (59 protocols, no tshark)
	$(PY) scripts/scapy_corpus.py -o data/datasets/scapy.jsonl --per-protocol 200 --seed 0

MODEL_CORPUS := --train data/datasets/pcap-all/train.jsonl --max-messages 100000 --max-bytes 1000000 --modbus-balanced 2850 --procedural 8000 --procedural-per-grammar 20 --extra data/datasets/scapy.jsonl --threads 2

model: dataset-all scapy-dataset  ## Retrain the shipped detector (seeded, three stages; ~40 min on 2 cores, see its data card)
	$(PY) scripts/train_default_model.py $(MODEL_CORPUS) --epochs 8 --out .cronos/model/stage1.pt --checkpoint-dir .cronos/model/ckpt
	$(PY) scripts/train_default_model.py $(MODEL_CORPUS) --oversample dnp3=40 --init .cronos/model/stage1.pt --lr 2e-3 --epochs 2 --patience 2 --out .cronos/model/stage2.pt
	$(PY) scripts/train_default_model.py $(MODEL_CORPUS) --oversample dnp3=40 --dnp3-frames 4000 --boundary-head --init .cronos/model/stage2.pt --lr 2e-3 --epochs 3 --patience 2

bench: $(STAMP)  ## Run the benchmarks (prints figures)
	$(PY) bench/detector_throughput.py
	$(PY) bench/e2e_throughput.py  # worker vs bare faust vs raw aiokafka, two real workloads
	$(PY) bench/translation_speed.py
	$(PY) bench/accuracy.py  # per-protocol held-out accuracy, LOPO (cached), NEMESYS
	$(PY) bench/unseen_protocols.py --json bench/results/unseen_protocols.json  # reserved protocols

reliability: $(STAMP)  ## Fault injection + hostile input at full scale; prints a table of figures
	$(PY) bench/reliability.py --scale full $(PYTEST_ARGS)

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
