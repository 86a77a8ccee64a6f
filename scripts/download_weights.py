#!/usr/bin/env python3
"""Download the VGGFace2 InceptionResnetV1 weights and verify their SHA-256.

Standard library only: docker/base.Dockerfile runs it before any project dependency is
installed, and `make weights` runs it for the local stack. The constants are importable
(``from download_weights import URL, SHA256``); facepipe.embedding.weights mirrors them and
tests/deploy checks the two agree.

    python scripts/download_weights.py                 # -> default_path()
    python scripts/download_weights.py /opt/facepipe/weights/20180402-114759-vggface2.pt
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

FILENAME = "20180402-114759-vggface2.pt"
URL = f"https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/{FILENAME}"
SHA256 = "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b"
SIZE = 111_898_327  # bytes; only used for progress when the server sends no Content-Length

#: where the image's build stages keep it
IMAGE_DIR = Path("/opt/facepipe/weights")
IMAGE_PATH = IMAGE_DIR / FILENAME
#: the network exported from it (facepipe.embedding.build.onnx_export), which the image keeps instead
#: (terraform sets FACENET_WEIGHTS_PATH to it)
ONNX_IMAGE_PATH = IMAGE_DIR / "facenet-vggface2.onnx"

CHUNK = 1 << 20


def default_path() -> Path:
    """Where `make weights` puts the file: $XDG_CACHE_HOME/facepipe/weights (~/.cache by default)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "facepipe" / "weights" / FILENAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(done: int, total: int, stream) -> None:
    if stream.isatty():
        print(f"\r{FILENAME}: {done / 2**20:6.1f} / {total / 2**20:.1f} MiB", end="", file=stream, flush=True)


def download(destination: Path, url: str = URL, sha256: str = SHA256, quiet: bool = False) -> Path:
    """Fetch ``url`` to ``destination`` atomically; raise ValueError when the digest differs.

    An existing file with the right digest is kept as it is (no download).
    """
    if destination.is_file() and sha256_of(destination) == sha256:
        print(f"{destination}: present, SHA-256 verified", file=sys.stderr)
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with contextlib.ExitStack() as cleanup:
        stream = cleanup.enter_context(open(os.devnull, "w")) if quiet else sys.stderr
        handle = cleanup.enter_context(tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{FILENAME}.", delete=False))
        cleanup.callback(lambda: os.path.exists(handle.name) and os.unlink(handle.name))
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or SIZE)
            done = 0
            for block in iter(lambda: response.read(CHUNK), b""):
                handle.write(block)
                digest.update(block)
                done += len(block)
                _progress(done, total, stream)
        handle.flush()
        if stream.isatty():
            print(file=stream)
        actual = digest.hexdigest()
        if actual != sha256:
            raise ValueError(f"{url} downloaded with SHA-256 {actual}, expected {sha256}; not installed")
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, destination)
    print(f"{destination}: downloaded, SHA-256 verified", file=sys.stderr)
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("destination", nargs="?", type=Path, help=f"file to write (default: {default_path()})")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--print-default-path", action="store_true", help="print the default destination and exit")
    args = parser.parse_args(argv)
    if args.print_default_path:
        print(default_path())
        return 0
    try:
        path = download(args.destination or default_path(), quiet=args.quiet)
    except (OSError, ValueError) as exc:
        print(f"download_weights: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
