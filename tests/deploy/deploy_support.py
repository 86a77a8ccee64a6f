"""Helpers of tests/deploy: Terraform parsed (python-hcl2) into plain dicts, paths, linters.

hcl2 keeps HCL's quoting: string literals come back as '"text"', expressions as
'${expr}', blocks as lists of dicts with '__is_block__' markers. ``Terraform`` strips that
into ``{"resource": {type: {name: body}}, "data": ..., "variable": ..., "locals": ...,
"output": ...}`` where a block is a list of bodies and a literal string has no quotes.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
DOCKER_DIR = ROOT / "docker"
SCRIPTS_DIR = ROOT / "scripts"
LAMBDAS_DIR = ROOT / "lambdas"
LINT_BIN = ROOT / ".venv-checkov" / "bin"

TF_FILES = sorted(TF_DIR.glob("*.tf"))


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {_unquote(k): normalise(v) for k, v in node.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    return _unquote(node)


def parse_file(path: Path) -> dict:
    with path.open() as handle:
        return normalise(hcl2.load(handle))


@dataclass
class Terraform:
    resource: dict[str, dict[str, dict]] = field(default_factory=dict)
    data: dict[str, dict[str, dict]] = field(default_factory=dict)
    variable: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    output: dict[str, dict] = field(default_factory=dict)
    terraform: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, files: list[Path]) -> Terraform:
        tf = cls()
        for path in files:
            parsed = parse_file(path)
            for entry in parsed.get("resource", []):
                for rtype, named in entry.items():
                    tf.resource.setdefault(rtype, {}).update(named)
            for entry in parsed.get("data", []):
                for dtype, named in entry.items():
                    tf.data.setdefault(dtype, {}).update(named)
            for entry in parsed.get("variable", []):
                tf.variable.update(entry)
            for entry in parsed.get("locals", []):
                tf.locals.update(entry)
            for entry in parsed.get("output", []):
                tf.output.update(entry)
            tf.terraform.extend(parsed.get("terraform", []))
        return tf

    # --- reading -------------------------------------------------------------------------
    def res(self, rtype: str, name: str) -> dict:
        return self.resource[rtype][name]

    def default(self, variable: str) -> Any:
        return self.variable[variable]["default"]

    def resolve(self, expr: Any, depth: int = 0) -> Any:
        """Evaluate a numeric expression of var.*/local.* with variable defaults (tests only)."""
        if not isinstance(expr, str):
            return expr
        text = expr[2:-1] if expr.startswith("${") and expr.endswith("}") else expr
        if depth > 10:
            raise ValueError(f"cannot resolve {expr!r}")

        def substitute(match: re.Match) -> str:
            kind, name = match.group(1), match.group(2)
            value = self.default(name) if kind == "var" else self.resolve(self.locals[name], depth + 1)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{kind}.{name} is not numeric: {value!r}")
            return repr(value)

        return _arithmetic(re.sub(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_]*)", substitute, text))

    def strings(self, expr: Any, depth: int = 0) -> list[str]:
        """A list of strings from a literal list or a local holding one (``"${local.x}"`` or
        ``"${[local.x, …]}"``), locals resolved; raises ValueError for anything it cannot follow."""
        if depth > 10:
            raise ValueError(f"cannot resolve {expr!r}")
        if isinstance(expr, list):
            return [s for item in expr for s in self.strings(item, depth + 1)]
        if not isinstance(expr, str):
            raise ValueError(f"not a string: {expr!r}")
        match = re.fullmatch(r"\$\{(?:\[)?local\.([A-Za-z_][A-Za-z0-9_]*)(?:\])?\}", expr)
        if match:
            return self.strings(self.locals[match.group(1)], depth + 1)
        if "${" in expr:
            raise ValueError(f"cannot resolve {expr!r}")
        return [expr]

    def expand(self, expr: str, depth: int = 0) -> str:
        """Inline local.* references (textually), to see which variables an expression uses."""
        if depth > 10:
            return expr
        return re.sub(
            r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)",
            lambda m: "(" + self.expand(str(self.locals[m.group(1)]).removeprefix("${").removesuffix("}"), depth + 1) + ")",
            expr,
        )


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCTIONS = {"ceil": math.ceil, "floor": math.floor}


def _arithmetic(text: str) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and len(node.args) == 1:
            return _FUNCTIONS[node.func.id](walk(node.args[0]))
        raise ValueError(f"not plain arithmetic: {text!r}")

    return walk(ast.parse(text, mode="eval"))


def block(body: dict, name: str) -> dict:
    """The single nested block ``name`` of a resource body (hcl2 gives a list)."""
    value = body[name]
    assert isinstance(value, list), f"expected one {name} block, got {value!r}"
    assert len(value) == 1, f"expected one {name} block, got {value!r}"
    return value[0]


def strip_expr(value: str) -> str:
    return value[2:-1] if isinstance(value, str) and value.startswith("${") and value.endswith("}") else value


def statements(document: dict) -> list[dict]:
    """A policy document's statements, those of ``dynamic "statement"`` blocks included (their
    ``content``: granted when the block's for_each is not empty)."""
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for content in (dynamic.get("statement") or {}).get("content", []):
            found.append(content)
    return found


def role_statements(tf: Terraform, role: str) -> list[dict]:
    """The statements of the policy document named after ``role``."""
    return statements(tf.data["aws_iam_policy_document"][role])


def role_actions(tf: Terraform, role: str) -> set[str]:
    """Every action the policies attached to ``role`` grant (each statement an Allow)."""
    policies = [p for p in tf.resource["aws_iam_role_policy"].values() if p["role"] == f"${{aws_iam_role.{role}.id}}"]
    assert policies, f"role {role} has no policy"
    actions: set[str] = set()
    for policy in policies:
        document = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"]).group(1)
        for statement in statements(tf.data["aws_iam_policy_document"][document]):
            assert statement.get("effect", "Allow") == "Allow"
            actions.update(statement["actions"])
    return actions


def handler_file(command: str) -> Path:
    """lambdas/<package>/<module>.py for a 'package.module.function' handler string."""
    module, _, _function = command.rpartition(".")
    return LAMBDAS_DIR.joinpath(*module.split(".")).with_suffix(".py")


def lint_tool(name: str) -> Path:
    """A linter from .venv-checkov; skipped (outside CI only) when the venv is missing."""
    import os

    path = LINT_BIN / name
    if not path.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{path} is missing under CI: run `make -f deploy.mk lint-tools` first")
        pytest.skip(f"{path} not installed: run `make -f deploy.mk lint-tools` (CI always runs this)")
    return path
