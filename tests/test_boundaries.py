"""The house's walls: the deployable core imports none of the tools, and the function images carry only the core."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS_ONLY = ("facepipe_tools", "matplotlib", "faiss", "moto", "tqdm", "werkzeug", "flask")


def loaded_after(code: str, **env: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    environment = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT / "lambdas"), **env}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_boundary_the_handlers_core_loads_no_tool_code():
    loaded = loaded_after(
        "import facepipe.runtime, facepipe.events, facepipe.frames, facepipe.recognition.consumer, facepipe.recognition, facepipe.index.pinecone"
    )
    assert loaded.isdisjoint(TOOLS_ONLY), loaded & set(TOOLS_ONLY)


def test_boundary_the_vector_index_loads_no_torch():
    loaded = loaded_after("import facepipe.index, facepipe.index.pinecone, facepipe.matching, facepipe.people, facepipe.settings")
    assert "torch" not in loaded
    assert "faiss" not in loaded  # the embedded index is the local stack's, loaded only for VECTOR_BACKEND=local


@pytest.mark.parametrize("package", ["facepipe_tools"])
def test_boundary_the_core_never_imports_the_tools(package):
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "lambdas" / "facepipe").rglob("*.py") if package in p.read_text()]
    assert offenders == []


def test_boundary_the_function_image_copies_only_the_core_and_the_handlers():
    dockerfile = (ROOT / "docker" / "function.Dockerfile").read_text()
    copied = re.findall(r"^COPY (?:--\S+ )*lambdas/(\S+) ", dockerfile, re.MULTILINE)
    assert sorted(copied) == ["face_detection", "face_recognition", "facepipe"]


def loaded_submodules(code: str, package: str) -> list[str]:
    """The modules of ``package`` (itself included) a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m == {package!r} or m.startswith({package + '.'!r}))))"
    environment = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT / "lambdas")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_boundary_the_runtime_embedding_imports_nothing_of_the_build_package():
    # the functions' embedding (its specs, croppers, embedders) and what reads the specs: no build-time code
    runtime = (
        "import facepipe.embedding, facepipe.embedding.models, facepipe.embedding.facenet, facepipe.embedding.dlib_resnet, "
        "facepipe.embedding.weights, facepipe.settings, facepipe.matching, facepipe.runtime, facepipe.operations"
    )
    assert loaded_submodules(runtime, "facepipe.embedding.build") == []
    assert loaded_submodules(runtime, "torch") == []


def test_boundary_the_function_image_leaves_the_build_package_out():
    # GIVEN the function image's Dockerfile
    dockerfile = (ROOT / "docker" / "function.Dockerfile").read_text()
    # THEN the core reaches the task root from the stage that removes facepipe.embedding.build, and the build checks it is gone
    assert re.search(r"^RUN rm -r /core/facepipe/embedding/build$", dockerfile, re.MULTILINE)
    assert re.search(r"^COPY --from=core (?:--\S+ )*/core/facepipe \$\{LAMBDA_TASK_ROOT\}/facepipe$", dockerfile, re.MULTILINE)
    assert "find_spec('facepipe.embedding.build') is None" in dockerfile
    # and what it removes is a package of its own: nothing outside it imports it at module level
    build = ROOT / "lambdas" / "facepipe" / "embedding" / "build"
    assert (build / "__init__.py").is_file()
    outside = [p for p in (ROOT / "lambdas" / "facepipe").rglob("*.py") if build not in p.parents]
    offenders = [str(p.relative_to(ROOT)) for p in outside if re.search(r"^(from|import) facepipe\.embedding\.build", p.read_text(), re.M)]
    assert offenders == []


def test_boundary_the_image_installs_only_the_core_dependencies():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    for tool in ("matplotlib", "tqdm", "faiss", "moto", "requests"):
        assert tool not in core, f"{tool} is a tools dependency; it belongs in an extra, not in the function images"
