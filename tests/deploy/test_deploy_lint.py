"""Static checks of the deployment: checkov on terraform/, hadolint, shellcheck.

The linters live in .venv-checkov (`make -f deploy.mk lint-tools`); outside CI a missing venv
skips these tests, under CI=true it fails them.
"""

from __future__ import annotations

import json
import subprocess

from deploy_support import DOCKER_DIR, ROOT, SCRIPTS_DIR, TF_DIR, lint_tool

DOCKERFILES = [DOCKER_DIR / "base.Dockerfile", DOCKER_DIR / "function.Dockerfile"]
SHELL_SCRIPTS = [*sorted(SCRIPTS_DIR.glob("*.sh")), DOCKER_DIR / "lambda-entrypoint.sh"]


def test_checkov_finds_nothing():
    checkov = lint_tool("checkov")
    run = subprocess.run(
        [
            str(checkov),
            "-d",
            str(TF_DIR),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert run.stdout.strip(), f"checkov printed nothing (exit {run.returncode}): {run.stderr[-2000:]}"
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    summary = [r["summary"] for r in reports]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert all(s["parsing_errors"] == 0 for s in summary), summary
    assert sum(s["passed"] for s in summary) > 100, summary  # it really scanned the stack
    assert run.returncode == 0, run.stderr[-2000:]


def test_hadolint_is_clean():
    hadolint = lint_tool("hadolint")
    run = subprocess.run(
        [str(hadolint), "--format", "json", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    findings = json.loads(run.stdout or "[]")
    assert findings == [], "\n".join(f"{f['file']}:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert run.returncode == 0, run.stderr


def test_shellcheck_is_clean():
    shellcheck = lint_tool("shellcheck")
    run = subprocess.run([str(shellcheck), *map(str, SHELL_SCRIPTS)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
