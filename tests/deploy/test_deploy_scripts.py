"""scripts/ and deploy.mk behave: weights verified, keys never in argv, purges confirmed."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys

import pytest
from deploy_support import ROOT, SCRIPTS_DIR

sys.path.insert(0, str(SCRIPTS_DIR))
import create_pinecone_index
import download_weights

sys.path.remove(str(SCRIPTS_DIR))


# --- download_weights ----------------------------------------------------------------------


def test_download_weights_verifies_and_installs(tmp_path):
    source = tmp_path / "source.pt"
    source.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "out" / download_weights.FILENAME
    assert download_weights.download(target, url=source.as_uri(), sha256=digest, quiet=True) == target
    assert target.read_bytes() == source.read_bytes()
    # present and right: kept without downloading (an unreachable URL proves it)
    assert download_weights.download(target, url="file:///nonexistent", sha256=digest, quiet=True) == target


def test_download_weights_refuses_a_wrong_digest(tmp_path):
    source = tmp_path / "source.pt"
    source.write_bytes(b"tampered")
    target = tmp_path / "out" / download_weights.FILENAME
    with pytest.raises(ValueError, match="expected"):
        download_weights.download(target, url=source.as_uri(), sha256="0" * 64, quiet=True)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial file left behind


def test_download_weights_default_path_is_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert download_weights.default_path() == tmp_path / "facepipe" / "weights" / download_weights.FILENAME
    assert download_weights.URL.endswith("/v2.2.9/20180402-114759-vggface2.pt")
    assert download_weights.SHA256 == "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b"


# --- create_pinecone_index -----------------------------------------------------------------


class FakeIndexModel:
    def __init__(self, name, dimension, metric="cosine"):
        self.name, self.dimension, self.metric, self.host = name, dimension, metric, f"{name}-abc.svc.pinecone.io"


class FakePinecone:
    def __init__(self, existing=None):
        self.indexes = dict(existing or {})
        self.created = []

    def has_index(self, name):
        return name in self.indexes

    def describe_index(self, name):
        return self.indexes[name]

    def create_index(self, **kwargs):
        self.created.append(kwargs)
        self.indexes[kwargs["name"]] = FakeIndexModel(kwargs["name"], kwargs["dimension"], kwargs["metric"])
        return self.indexes[kwargs["name"]]


@pytest.mark.parametrize(("model", "dimension"), [("facenet-vggface2", 512), ("dlib-resnet", 128)])
def test_create_pinecone_index_creates_a_cosine_index_of_the_model_dimension(model, dimension):
    pc = FakePinecone()
    host = create_pinecone_index.ensure_index(
        pc,
        "facepipe",
        create_pinecone_index.DIMENSIONS[model],
        cloud="aws",
        region="us-east-1",
        timeout=5,
        deletion_protection=False,
    )
    assert host == "facepipe-abc.svc.pinecone.io"
    (call,) = pc.created
    assert (call["dimension"], call["metric"]) == (dimension, "cosine")
    assert call["spec"].cloud == "aws"
    assert call["spec"].region == "us-east-1"


def test_create_pinecone_index_is_idempotent():
    pc = FakePinecone({"facepipe": FakeIndexModel("facepipe", 512)})
    host = create_pinecone_index.ensure_index(pc, "facepipe", 512, cloud="aws", region="us-east-1", timeout=5, deletion_protection=False)
    assert host == "facepipe-abc.svc.pinecone.io"
    assert pc.created == []


def test_create_pinecone_index_refuses_another_models_index():
    pc = FakePinecone({"facepipe": FakeIndexModel("facepipe", 512)})
    with pytest.raises(create_pinecone_index.IndexSetupError, match="dimension 512, not 128"):
        create_pinecone_index.ensure_index(pc, "facepipe", 128, cloud="aws", region="us-east-1", timeout=5, deletion_protection=False)
    assert pc.created == []


# --- shell scripts -------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted(SCRIPTS_DIR.glob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_are_strict_and_executable(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert script.stat().st_mode & stat.S_IXUSR


@pytest.fixture
def fake_aws(tmp_path):
    """An `aws` on PATH that logs its argv (and a copy of any file:// value) and answers SSM."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "aws.log"
    aws = bin_dir / "aws"
    aws.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{log}"\n'
        'for a in "$@"; do case "$a" in file://*) cp "${a#file://}" "' + str(tmp_path) + '/value";; esac; done\n'
        'case "$*" in *describe-parameters*) echo "arn:aws:kms:us-east-1:123456789012:key/abcd";; '
        "*put-parameter*) echo 2;; esac\n"
    )
    aws.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PINECONE_", "REQUEST_QUEUE", "RESPONSE_QUEUE"))}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    env["TF_DIR"] = str(tmp_path / "no-terraform")
    return env, log, tmp_path / "value"


def test_set_pinecone_key_reads_stdin_and_never_passes_the_key_as_an_argument(fake_aws):
    env, log, value = fake_aws
    key = "pcsk_0123456789abcdef"
    run = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "set-pinecone-key.sh"), "--region", "eu-west-1"],
        input=key + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    calls = log.read_text()
    assert key not in calls
    assert "put-parameter --region eu-west-1 --name /pinecone/facepipe --type SecureString" in calls
    assert "--key-id arn:aws:kms:us-east-1:123456789012:key/abcd" in calls
    assert "--overwrite" in calls
    assert value.read_text() == key  # the value file held exactly the key, no newline


@pytest.mark.parametrize("argv", [["pcsk_secret"], ["--key", "pcsk_secret"]])
def test_set_pinecone_key_refuses_a_key_on_the_command_line(fake_aws, argv):
    env, log, _ = fake_aws
    run = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "set-pinecone-key.sh"), *argv],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode != 0
    assert not log.exists()


def test_set_pinecone_key_refuses_an_empty_key(fake_aws):
    env, log, _ = fake_aws
    run = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "set-pinecone-key.sh")],
        input="\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 1
    assert "no key" in run.stderr
    assert not log.exists()


def test_purge_queues_refuses_an_empty_queue_url(fake_aws):
    env, log, _ = fake_aws
    run = subprocess.run(
        [
            "bash",
            str(SCRIPTS_DIR / "purge-queues.sh"),
            "--yes",
            "--request",
            "https://sqs.us-east-1.amazonaws.com/1/q",
            "--response",
            "",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 1
    assert "response queue URL is empty" in run.stderr
    assert not log.exists()


def test_purge_queues_needs_confirmation(fake_aws):
    env, log, _ = fake_aws
    urls = [
        "--request",
        "https://sqs.us-east-1.amazonaws.com/1/a",
        "--response",
        "https://sqs.us-east-1.amazonaws.com/1/b",
    ]
    run = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "purge-queues.sh"), *urls],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 1
    assert "--yes" in run.stderr
    assert not log.exists()
    run = subprocess.run(
        ["bash", str(SCRIPTS_DIR / "purge-queues.sh"), "--yes", *urls],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert log.read_text().count("sqs purge-queue") == 2


# --- deploy.mk -----------------------------------------------------------------------------


def test_deploy_mk_has_its_targets():
    text = (ROOT / "deploy.mk").read_text()
    for target in ("plan", "deploy", "destroy", "weights", "check-deploy", "lint-tools"):
        assert re.search(rf"^{re.escape(target)}:", text, re.M), target
    dry = subprocess.run(
        ["make", "-n", "-f", "deploy.mk", "deploy", "AWS_REGION=eu-west-1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert dry.returncode == 0, dry.stderr
    assert "scripts/build-and-push.sh" in dry.stdout
    assert "-var 'region=eu-west-1'" in dry.stdout
    assert "-target=aws_ecr_repository.this" in dry.stdout  # the repository exists before the push


def test_checkov_runs_in_its_own_virtualenv():
    text = (ROOT / "deploy.mk").read_text()
    assert "CHECKOV_VERSION ?= 3.3.30" in text
    assert "$(PYTHON3) -m venv $(LINT_VENV)" in text
    assert "LINT_VENV ?= .venv-checkov" in text


def test_dockerignore_keeps_secrets_and_state_out_of_the_build_context():
    entries = set((ROOT / ".dockerignore").read_text().split())
    for entry in (".git", ".venv", "tests", ".facepipe", "terraform", "**/__pycache__"):
        assert entry in entries, entry


def test_entrypoint_execs_awslambdaric(tmp_path):
    text = (ROOT / "docker" / "lambda-entrypoint.sh").read_text()
    assert 'exec /opt/venv/bin/python -m awslambdaric "$@"' in text
    assert re.search(
        r'^ENTRYPOINT \["/usr/local/bin/lambda-entrypoint"\]$',
        (ROOT / "docker" / "function.Dockerfile").read_text(),
        re.M,
    )
    # no handler anywhere: a clear error, not awslambdaric's
    run = subprocess.run(
        ["sh", str(ROOT / "docker" / "lambda-entrypoint.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=10,
    )
    assert run.returncode != 0
    assert "no handler" in run.stderr
