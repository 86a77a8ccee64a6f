"""Fixtures of tests/deploy: all of terraform/ parsed once per session (see deploy_support)."""

from __future__ import annotations

import pytest
from deploy_support import TF_DIR, TF_FILES, Terraform


@pytest.fixture(scope="session")
def tf() -> Terraform:
    assert TF_FILES, f"no .tf files in {TF_DIR}"
    return Terraform.load(TF_FILES)
