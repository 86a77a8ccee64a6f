"""Load a function's handler file the way the Lambda runtime does: ``lambdas/<function>/handler.py``, task root on sys.path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

#: the Lambda task root of a source checkout (lambdas/)
LAMBDAS_DIR = Path(__file__).resolve().parents[2]


def load_handler(function_dir: str) -> ModuleType:
    """Import ``lambdas/<function_dir>/handler.py`` as a cold start does (its INIT runs now)."""
    path = LAMBDAS_DIR / function_dir / "handler.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run from a source checkout installed with `make install`")
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    spec = importlib.util.spec_from_file_location(f"_facepipe_local_{function_dir}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
