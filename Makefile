# facepipe: `make demo` runs the pipeline locally, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: install test unit fuzz demo local eval bench bench-dlib clean help

help:
	@echo "make demo    - start the local stack, enroll, send sample frames, print results"
	@echo "make test    - install everything pinned and run the whole suite (CI runs this)"
	@echo "make fuzz    - the property-based fuzz tests with far more examples (FUZZ_EXAMPLES=50000)"
	@echo "make local   - run the local stack until Ctrl-C (facepipe local up)"
	@echo "make bench   - every stage, the references, end to end -> docs/reports/bench.md (docs/performance.md)"
	@echo "make bench-dlib - dlib-bin against dlib built with OpenBLAS (~10 min build) -> docs/reports/dlib-blas.md"
	@echo "make weights - download the VGGFace2 weights (SHA-256 checked)"
	@echo "make plan | deploy | destroy - Terraform (see docs/deploy.md)"

# torch/torchvision first (pinned together), then the project, then facenet-pytorch
# with --no-deps: its metadata pins torch<2.3 (ARCHITECTURE §9).
$(STAMP): pyproject.toml requirements/torch.txt requirements/no-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/torch.txt
	$(PIP) install -q -e '.[dlib,local,cli,dev,export]'
	$(PIP) install -q --no-deps -r requirements/no-deps.txt
	$(PY) -c "import facenet_pytorch, dlib, faiss, pinecone, moto, onnx, onnxruntime; print('facepipe environment ready')"
	touch $(STAMP)

install: $(STAMP)

test: install lint-tools
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
