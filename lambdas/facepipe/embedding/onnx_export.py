"""InceptionResnetV1 (VGGFace2) exported to ONNX, for onnxruntime to run in the recognition function.

The image build runs this once (docker/base.Dockerfile, stage ``export``): the SHA-256-checked
weights file in, ``facenet-vggface2.onnx`` out. The function then loads the ONNX file with
onnxruntime and never imports torch on its SQS path. Measured on 2 x86-64 cores against the
fused torch network (``fused_resnet``), which is what is exported: one face 54 -> 36 ms on one
thread, a batch of 10 372 -> 285 ms; ``import onnxruntime`` 0.14 s against ``import torch`` ~2 s.

The file records where its weights came from (``facepipe.source``: the weights file's SHA-256,
or ``random:timing-only``) and the crop preprocessing it expects; ``facenet.FacenetEmbedder``
checks both at load. Needs torch and the ``onnx`` package (extra ``export``), not onnxruntime.

    python -m facepipe.embedding.onnx_export [--weights FILE.pt | --random] [OUT.onnx]

(default OUT: ``facenet-vggface2.onnx`` beside the weights file; ``make weights`` runs it so.)
"""

from __future__ import annotations

import argparse
import io
import warnings
from pathlib import Path

import torch

from facepipe.embedding.facenet import (
    MODEL_KEY,
    ONNX_NAME,
    PREPROCESSING,
    PREPROCESSING_KEY,
    RANDOM_WEIGHTS,
    SOURCE_KEY,
    expected_source,
    vggface2_network,
)
from facepipe.embedding.fused_resnet import fused_for_inference
from facepipe.embedding.inception_resnet_v1 import InceptionResnetV1
from facepipe.embedding.weights import default_weights_path

OPSET = 17


def onnx_bytes(network: InceptionResnetV1, source: str, preprocessing: str = PREPROCESSING) -> bytes:
    """``network`` (weights loaded) fused for inference and exported: input ``crops`` (n, 3, 160, 160)
    standardised float32, output ``vectors`` (n, 512) before L2 normalisation; ``source`` and
    ``preprocessing`` recorded in the file's metadata."""
    import onnx

    fused = fused_for_inference(network)
    example = torch.zeros(1, 3, 160, 160)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; it is the one that needs no onnxscript
        torch.onnx.export(
            fused,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects too
            input_names=["crops"],
            output_names=["vectors"],
            dynamic_axes={"crops": {0: "faces"}, "vectors": {0: "faces"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, {SOURCE_KEY: source, PREPROCESSING_KEY: preprocessing, MODEL_KEY: "facenet-vggface2"})
    return bytes(model.SerializeToString())


def export(destination: Path, weights: str | Path | None = None, random: bool = False) -> Path:
    """Write the ONNX file for the VGGFace2 weights (``weights``, else the default place; checked),
    or, with ``random``, for the architecture with seeded random weights (timing only)."""
    network = vggface2_network(RANDOM_WEIGHTS if random else weights)
    source = RANDOM_WEIGHTS if random else expected_source()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(onnx_bytes(network, source))
    partial.replace(destination)  # never a half-written model at the final name
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facepipe.embedding.onnx_export", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the ONNX file to write (default: beside the weights file)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", help="the VGGFace2 .pt file (default: FACENET weights' default place)")
    source.add_argument("--random", action="store_true", help="random weights: for timing only")
    args = parser.parse_args(argv)
    out = args.out or (Path(args.weights) if args.weights else default_weights_path()).with_name(ONNX_NAME)
    written = export(out, args.weights, args.random)
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
