"""``facepipe bench --images``: the memory of opening a frame, per format and mode, a fresh process per frame."""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from facepipe_tools.bench.measuring import fresh_process, print_numbers, write_report
from facepipe_tools.bench.sizing import MB_PER_VCPU
from facepipe_tools.report import command_line, markdown_table

#: ``facepipe bench --images``: (format, mode, width, height); 4000x3000 is a phone's photo,
#: 7300x5475 (39.97 MP) about the largest frame the default MAX_IMAGE_PIXELS lets in
IMAGE_FRAMES = (
    ("JPEG", "RGB", 4000, 3000),
    ("PNG", "RGB", 4000, 3000),
    ("PNG", "RGBA", 4000, 3000),
    ("PNG", "P", 4000, 3000),
    ("PNG", "I;16", 4000, 3000),
    ("PNG", "I;16", 7300, 5475),
)


def bench_image(fmt: str, mode: str, width: int, height: int) -> bytes:
    """A ``width`` x ``height`` frame in ``mode`` (RGB, RGBA, P or I;16) saved as ``fmt``: gradients,
    as a decoder's memory depends on the size and the mode, not on the picture."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 0.5, width, dtype=np.float32) + np.linspace(0, 0.5, height, dtype=np.float32)[:, None]
    grey = (ramp * 255).astype(np.uint8)
    if mode == "I;16":
        image = Image.fromarray((ramp * 65535).astype(np.uint16))
    elif mode == "P":
        image = Image.fromarray(grey, "P")
        image.putpalette([value for i in range(256) for value in (i, 255 - i, i // 2)])
    else:
        image = Image.fromarray(np.dstack([grey, grey[::-1], 255 - grey, grey[:, ::-1]][: len(mode)]))  # RGB or RGBA
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return buffer.getvalue()


def image_memory_child(path: str) -> None:
    """Run in a fresh interpreter (``image_memory``), with the functions' allocator (facepipe.runtime):
    ``open_image`` on the frame at ``path`` after a tiny one of its format and mode (plugins loaded);
    print its peak RSS above the process's before it, and the part of it numpy and Python allocated
    (tracemalloc's peak: Pillow's own buffers are not traced)."""
    import tracemalloc

    from PIL import Image

    from facepipe.allocator import keep_freed_memory
    from facepipe.images import open_image

    def status_kb(key: str) -> int:
        return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key + ":"))

    keep_freed_memory()
    data = Path(path).read_bytes()
    header = Image.open(io.BytesIO(data))
    tiny = io.BytesIO()
    Image.new(header.mode, (8, 8)).save(tiny, header.format)
    open_image(tiny.getvalue(), 64)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to VmRSS
    before = status_kb("VmRSS")
    tracemalloc.start()
    open_image(data, 200_000_000)
    traced = tracemalloc.get_traced_memory()[1]
    measured = {"mode": header.mode, "peak_mb": (status_kb("VmHWM") - before) / 1024, "traced_mb": traced / 2**20}
    print_numbers(measured)


def image_memory(content: bytes) -> dict[str, Any]:
    """``image_memory_child`` on ``content`` in a fresh interpreter: decoded mode, peak MB, traced MB."""
    with tempfile.NamedTemporaryFile(suffix=".frame", delete=False) as handle:
        handle.write(content)
    code = f"from facepipe_tools.bench.images import image_memory_child; image_memory_child({handle.name!r})"
    try:
        return fresh_process(code, "opening a frame")
    finally:
        os.unlink(handle.name)


def run_images_bench(args: argparse.Namespace) -> int:
    import numpy as np
    import PIL

    command = command_line(getattr(args, "argv", None) or ["bench", "--images"])
    rows = []
    for fmt, mode, width, height in IMAGE_FRAMES:
        content = bench_image(fmt, mode, width, height)
        measured = image_memory(content)
        megapixels, peak = width * height / 1e6, measured["peak_mb"]
        sizes = (
            round(megapixels, 1),
            round(len(content) / 2**20, 1),
            round(peak),
            round(peak / megapixels, 1),
            round(measured["traced_mb"], 1),
        )
        rows.append((f"{fmt} {measured['mode']}", f"{width}x{height}", *sizes))
    header = ("frame", "size", "MP", "file MB", "peak MB", "MB per MP", "numpy and Python MB")
    lines = [
        "# facepipe bench: memory of opening a frame",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, Pillow {PIL.__version__}, numpy {np.__version__}",
        "",
        "`open_image` (decode, EXIF orientation, RGB) in a fresh process per frame, with the functions' allocator: the peak",
        "RSS above the process's before it, per megapixel, and the part of it numpy and Python allocated (tracemalloc; Pillow's",
        f"own buffers are not traced). MB are MiB, as Lambda's: the detection function has {MB_PER_VCPU}.",
        "",
        *markdown_table(rows, header),
    ]
    write_report(args.out, "\n".join(lines) + "\n")
    return 0
