"""InceptionResnetV1 (VGGFace2) exported to ONNX, for onnxruntime to run in the recognition function.

The image build runs this once (docker/base.Dockerfile, stage ``export``): the SHA-256-checked
weights file in, ``facenet-vggface2.onnx`` out. What is exported is the network prepared for
inference (``fused_resnet``). The function loads the ONNX file with onnxruntime
(``facepipe.embedding.facenet``) and never imports torch or this package.

The file records where its weights came from (``facepipe.source``: the weights file's SHA-256,
or ``random:timing-only``), the model and the crop preprocessing it expects (the model's spec,
``facepipe.embedding.models``); ``facenet.FacenetEmbedder`` checks them at load. Needs torch and
the ``onnx`` package (extra ``export``). Also the torch side of loading outside the image: the
``.pt`` weights (``vggface2_network``), and an embedder exported in memory at load
(``exported_embedder``: ``FACENET_WEIGHTS_PATH`` naming the ``.pt`` file or random weights).

    python -m facepipe.embedding.build.onnx_export [--weights FILE.pt | --random] [OUT.onnx]

(default OUT: ``facenet-vggface2.onnx`` beside the weights file; ``make weights`` runs it so.)
"""

from __future__ import annotations

import argparse
import io
import warnings
from pathlib import Path

import torch

from facepipe.embedding._base import EMBED_BATCH_SIZE
from facepipe.embedding.build.fused_resnet import fused_for_inference
from facepipe.embedding.build.inception_resnet_v1 import VGGFACE2_CLASSES, InceptionResnetV1
from facepipe.embedding.facenet import (
    MODEL_KEY,
    ONNX_NAME,
    PREPROCESSING,
    PREPROCESSING_KEY,
    RANDOM_WEIGHTS,
    SOURCE_KEY,
    FacenetEmbedder,
    expected_source,
)
from facepipe.embedding.weights import VGGFACE2, default_weights_path, verified_path
from facepipe.observability import child_logger

OPSET = 17

logger = child_logger()


def vggface2_state_dict(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The checked VGGFace2 file's tensors (``path``, else the default place), by facenet-pytorch's
    parameter names; its unused ``logits`` head included."""
    state: dict[str, torch.Tensor] = torch.load(verified_path(path, VGGFACE2), map_location="cpu", weights_only=True)
    return state


def vggface2_network(path: str | Path | None = None) -> InceptionResnetV1:
    """InceptionResnetV1 with the checked VGGFace2 weights (``path``, else the default place);
    ``RANDOM_WEIGHTS``: the same architecture with seeded random weights, for timing only."""
    if str(path) == RANDOM_WEIGHTS:
        torch.manual_seed(0)
        return InceptionResnetV1().eval()
    state = vggface2_state_dict(path)
    with torch.device("meta"):  # no random initialisation to throw away: the file assigns every tensor
        network = InceptionResnetV1(classes=VGGFACE2_CLASSES)
    network.load_state_dict(state, assign=True)
    return network.eval()


def onnx_bytes(network: InceptionResnetV1, source: str, preprocessing: str = PREPROCESSING) -> bytes:
    """``network`` (weights loaded) fused for inference and exported: input ``crops`` (n, 3, 160, 160)
    standardised float32, output ``vectors`` (n, 512) unit vectors; ``source``, ``preprocessing`` and
    the model's name recorded in the file's metadata."""
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
    onnx.helper.set_model_props(model, {SOURCE_KEY: source, PREPROCESSING_KEY: preprocessing, MODEL_KEY: FacenetEmbedder.model})
    return bytes(model.SerializeToString())


def embedder_from_network(
    network: InceptionResnetV1, source: str = RANDOM_WEIGHTS, threads: int | None = None, batch_size: int = EMBED_BATCH_SIZE
) -> FacenetEmbedder:
    """The embedder running ``network`` (weights loaded), exported in memory, recording ``source``."""
    return FacenetEmbedder(onnx_bytes(network, source), threads, batch_size)


def exported_embedder(weights: str | Path | None = None, threads: int | None = None) -> FacenetEmbedder:
    """The embedder for the checked ``.pt`` weights (``weights``, else the default place), exported
    here at load; ``RANDOM_WEIGHTS``: the architecture with random weights, for timing only."""
    if str(weights) != RANDOM_WEIGHTS:
        logger.info("exporting the VGGFace2 weights to ONNX at load: the image bakes the exported file instead")
    return embedder_from_network(vggface2_network(weights), source_of(weights), threads)


def source_of(weights: str | Path | None) -> str:
    """What an export of ``weights`` (``vggface2_network``'s argument) records as its source."""
    return RANDOM_WEIGHTS if str(weights) == RANDOM_WEIGHTS else expected_source()


def export(destination: Path, weights: str | Path | None = None) -> Path:
    """Write the ONNX file for the VGGFace2 weights (``weights``, else the default place; checked),
    or, for ``RANDOM_WEIGHTS``, for the architecture with seeded random weights (timing only)."""
    network = vggface2_network(weights)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.write_bytes(onnx_bytes(network, source_of(weights)))
    partial.replace(destination)  # never a half-written model at the final name
    return destination


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facepipe.embedding.build.onnx_export", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the ONNX file to write (default: beside the weights file)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--weights", help="the VGGFace2 .pt file (default: where `make weights` downloads it)")
    source.add_argument("--random", action="store_true", help="random weights: for timing only")
    args = parser.parse_args(argv)
    out = args.out or (Path(args.weights) if args.weights else default_weights_path()).with_name(ONNX_NAME)
    written = export(out, RANDOM_WEIGHTS if args.random else args.weights)
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
