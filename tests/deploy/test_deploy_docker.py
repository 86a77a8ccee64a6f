"""The images are reproducible: external base images pinned by digest, and every pip install in
the image either hash-checked (--require-hashes, from pip-compile --generate-hashes files) or the
documented exception (torch from the PyTorch CPU index)."""

from __future__ import annotations

import re
import tomllib

import pytest
from deploy_support import DOCKER_DIR, ROOT

REQUIREMENTS = ROOT / "requirements"
BASE = DOCKER_DIR / "base.Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def args(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))


def pins(path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    found: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)(.*)$", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            found[name] = (match.group(3), re.findall(r"--hash=sha256:([0-9a-f]{64})", match.group(4)))
    return found


def test_external_base_images_are_pinned_by_digest():
    text = BASE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms, "no FROM line"
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", text, re.M))
    image_args = args(text)
    for image in froms:
        if image in stages:
            continue  # an earlier stage of this file, itself checked here
        resolved = image_args.get(image[2:-1], image) if image.startswith("${") else image
        assert DIGEST.search(resolved), f"FROM {image} -> {resolved} is not pinned by digest"
        assert resolved.startswith("python:3.11"), resolved  # the tag stays for humans, the digest decides


@pytest.mark.parametrize("name", ["runtime.txt", "dlib.txt", "dlib-blas.txt", "no-deps.txt", "export.txt"])
def test_image_requirement_files_pin_every_package_with_hashes(name):
    found = pins(REQUIREMENTS / name)
    assert found, name
    for package, (version, hashes) in found.items():
        assert hashes, f"{name}: {package}=={version} has no --hash"
    text = (REQUIREMENTS / name).read_text()
    assert "file://" not in text
    assert "--find-links" not in text  # nothing of the machine that compiled it


def test_runtime_requirements_are_pyprojects_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins(REQUIREMENTS / "runtime.txt")
    dlib = pins(REQUIREMENTS / "dlib.txt")
    for requirement, compiled in [(r, runtime) for r in project["dependencies"]] + [
        (r, dlib) for r in project["optional-dependencies"]["dlib"] if "==" in r
    ]:
        name, version = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)$", requirement).groups()
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert key in compiled, f"{requirement} is missing from the compiled requirements"
        assert compiled[key][0] == version, f"{requirement}: compiled {compiled[key][0]}"
    assert "awslambdaric" in runtime  # the runtime interface client comes in hash-checked too
    assert pins(REQUIREMENTS / "no-deps.txt")["facenet-pytorch"][0] == "2.6.0"


def test_pip_installs_in_the_image_require_hashes():
    text = BASE.read_text().replace("\\\n", " ")
    installs = [line for line in text.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs
    for line in installs:
        for command in re.findall(r"pip install[^&;]*", line):
            if "requirements/torch.txt" in command:
                continue  # the documented exception: the CPU index's hashes (see the comment in the file)
            assert "--require-hashes" in command, command
    assert "pip-compile --generate-hashes" in text  # how to close the exception


def test_dlib_built_with_blas_keeps_the_extras_other_pins():
    # the source build replaces dlib-bin only: face_recognition_models and setuptools stay as in dlib.txt
    wheel, source = pins(REQUIREMENTS / "dlib.txt"), pins(REQUIREMENTS / "dlib-blas.txt")
    assert set(source) == (set(wheel) - {"dlib-bin"}) | {"dlib"}
    for package in set(source) - {"dlib"}:
        assert source[package] == wheel[package], package
    assert "--no-binary dlib" in BASE.read_text()


def test_the_images_python_steps_name_what_facepipe_has():
    """The build's ``python -m facepipe...`` and ``from facepipe... import`` steps run only in Docker:
    here, at least, every module and name they use must exist."""
    import importlib

    pytest.importorskip("torch")  # facepipe.embedding.build.onnx_export needs it, as the export stage has it
    text = BASE.read_text()
    modules = re.findall(r"python -m (facepipe[\w.]*)", text)
    names = re.findall(r"from (facepipe[\w.]*) import ([\w, ]+)", text)
    assert modules, "no python -m facepipe... step (the export stage)"
    assert names, "no from facepipe... import step (its smoke test)"
    for module in modules:
        assert hasattr(importlib.import_module(module), "main"), module
    for module, imported in names:
        for name in (n.strip() for n in imported.split(",")):
            assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
