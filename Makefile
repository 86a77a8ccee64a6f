# facepipe: `make demo` runs the pipeline locally, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: install chromium test unit fuzz demo local eval bench bench-dlib screenshots clean help

help:
	@echo "make demo    - start the local stack, enroll, send sample frames, print results"
	@echo "make test    - install everything pinned and run the whole suite (CI runs this)"
	@echo "make fuzz    - the property-based fuzz tests with far more examples (FUZZ_EXAMPLES=50000)"
	@echo "make local   - run the local stack until Ctrl-C (facepipe local up)"
	@echo "make chromium - Debian's Chromium for the console's browser tests (make test runs it)"
	@echo "make screenshots - sample data through recognition, a PNG of each console page -> docs/console/"
	@echo "make bench   - every stage, the references, end to end -> docs/reports/bench.md (docs/performance.md)"
	@echo "make bench-dlib - dlib-bin against dlib built with OpenBLAS (~10 min build) -> docs/reports/dlib-blas.md"
	@echo "make weights - download the VGGFace2 weights (SHA-256 checked)"
	@echo "make plan | deploy | destroy - Terraform (see docs/deploy.md)"

# torch/torchvision first (pinned together), then the project, then facenet-pytorch
# with --no-deps: its metadata pins torch<2.3, stale pins the
# project does not need.
$(STAMP): pyproject.toml requirements/torch.txt requirements/no-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/torch.txt
	$(PIP) install -q -e '.[dlib,local,cli,console,dev,export]'
	$(PIP) install -q --no-deps -r requirements/no-deps.txt
	$(PY) -c "import facenet_pytorch, dlib, faiss, pinecone, moto, onnx, onnxruntime; print('facepipe environment ready')"
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium, which the console's browser tests drive through Playwright (whose own
# `playwright install` downloads browsers from a CDN this project does not use). Nothing runs
# once /usr/bin/chromium exists; the package lists are refreshed only when they do not know the
# package or are too old to fetch it. Needs root (CI) or passwordless sudo; otherwise it says so
# and the browser tests skip.
CHROMIUM := /usr/bin/chromium
APT_GET := env DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else \
			echo "warning: $(CHROMIUM) is missing and installing it needs root: apt-get install chromium (the browser tests skip)" >&2; exit 0; fi; \
		echo "installing Debian's chromium for the browser tests"; \
		apt-cache show chromium >/dev/null 2>&1 || $$sudo $(APT_GET) update; \
		$$sudo $(APT_GET) install -y --no-install-recommends chromium >/dev/null \
			|| { $$sudo $(APT_GET) update && $$sudo $(APT_GET) install -y --no-install-recommends chromium >/dev/null; }; \
		test -x $(CHROMIUM) && $(CHROMIUM) --version 2>/dev/null; \
	fi

# the console's pages over sample data (moto in process, the real models, the shared fixtures),
# shot in Debian's Chromium: docs/console/{people,person,review,activity}.png
screenshots: install chromium
	$(PY) scripts/console_screenshots.py --out docs/console

test: install lint-tools chromium
	$(PY) -m ruff check lambdas tests scripts
	$(PY) -m ruff format --check lambdas tests scripts
	$(PY) -m mypy
	$(PY) -m pytest -q -ra

unit: install
	$(PY) -m pytest -q -m "not slow"

# `make test` runs tests/test_fuzz*.py with 1,000 examples per input class (profile "test");
# this runs them with FUZZ_EXAMPLES each, keeping what fails in .hypothesis/ to replay first.
FUZZ_EXAMPLES ?= 50000
fuzz: install
	FACEPIPE_FUZZ_PROFILE=fuzz FACEPIPE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -s -p no:warnings --timeout 0 tests/test_fuzz*.py

demo: install
	$(VENV)/bin/facepipe demo

local: install
	$(VENV)/bin/facepipe local up

eval: install
	$(VENV)/bin/facepipe eval

# reference (b) needs face_recognition, installed --no-deps beside dlib-bin (pyproject's bench extra)
bench: install
	$(PIP) install -q --no-deps 'face_recognition==1.3.0'
	$(VENV)/bin/facepipe bench --downscale 64 --requests 100 --concurrency 10 \
		--out docs/reports/bench.md --json docs/reports/bench.json --plot docs/reports/bench.png

# dlib from source against OpenBLAS, in its own venv (.venv-dlib-blas); needs g++, cmake, libopenblas-dev
bench-dlib: install
	scripts/bench_dlib_blas.sh

clean:
	rm -rf $(VENV) .venv-checkov .facepipe .pytest_cache .hypothesis

include deploy.mk
