"""The labelled sets of the demo, eval and bench now live in ``facepipe.labelled``; these names
stay importable from here for existing callers."""

from __future__ import annotations

from facepipe.labelled import (
    PROJECT_ROOT,
    Probe,
    Workload,
    default_workload,
    fixture_workload,
    fixtures_dir,
    judge,
    packaged_workload,
)

__all__ = ["PROJECT_ROOT", "Probe", "Workload", "default_workload", "fixture_workload", "fixtures_dir", "judge", "packaged_workload"]
