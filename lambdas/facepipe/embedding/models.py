"""What each embedding model is, in one place: ``MODELS`` maps a model's name to its ``ModelSpec``.

Everything that depends on the model reads its spec: settings (``EMBEDDING_MODEL``'s choices
and help, the descriptor norm that ``FACE_RECOGNITION_TOLERANCE`` is mapped with), matching
(``calibration_for``, here), the embedding package (``load_cropper``, ``load_embedder``,
``dimension_of``), the people operations (the namespaces a face may have vectors in), the Pinecone
index script (its dimension) and the tools (``--model`` choices, the bench). Adding a model is
one spec here and the module of its cropper and embedder.

Loading a spec's cropper or embedder imports its module then, not before: importing this one
loads no network library (torch, onnxruntime, dlib), and nothing of the build-time package
(``facepipe.embedding.build``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from facepipe.exceptions import ConfigurationError
from facepipe.matching import Calibration

if TYPE_CHECKING:
    from facepipe.embedding._base import Cropper, Embedder


@dataclass(frozen=True)
class ModelSpec:
    """One embedding model: what the rest of facepipe needs to know about it."""

    #: ``EMBEDDING_MODEL``'s value; stored with every vector (``model``) and naming its namespace (``faces-<name>``)
    name: str
    #: the length of its vectors (the Pinecone index's dimension)
    dimension: int
    #: crop geometry and model, stored with every vector so that faces can be re-embedded; a
    #: cropper producing other crops must carry another id (exported ONNX files record it, checked at load)
    preprocessing: str
    #: similarity thresholds per quality band, margin, near-duplicate and review-group floors (``facepipe.matching``)
    calibration: Calibration
    #: the typical L2 norm of its raw descriptors, which maps seed 000's Euclidean tolerance ``d``
    #: (``FACE_RECOGNITION_TOLERANCE``) to the cosine similarity ``1 - (d / norm)**2 / 2``
    descriptor_norm: float
    #: the crop maker alone (what the detection function needs: no embedding network), as
    #: ``"module:name"`` of a class called without arguments; imported when first loaded
    cropper: str
    #: the embedder, as ``"module:name"`` of a function of ``(FACENET_WEIGHTS_PATH, threads)``; a
    #: model reads only what it needs of them. Named, not imported: a model's module reads its spec
    #: from here, and importing this module loads no network library.
    embedder: str

    def load_cropper(self) -> Cropper:
        make: Callable[[], Cropper] = _named(self.cropper)
        return make()

    def load_embedder(self, weights_path: str = "", threads: int | None = None) -> Embedder:
        load: Callable[[str, int | None], Embedder] = _named(self.embedder)
        return load(weights_path, threads)


def _named(reference: str) -> Any:
    """The object ``"module:name"`` names (its module imported now)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


#: facenet-pytorch's InceptionResnetV1 pretrained on VGGFace2 (``facenet.py``), the deployed model.
#: Its calibration is not measured on facepipe's sets: it
#: starts from deepface's published tuning of the same 20180402-114759 weights (cosine distance
#: 0.30) with wider band steps, and its review-group floor is its fair threshold; calibrate it on
#: your data with ``facepipe calibrate --model facenet-vggface2``. Its vectors are unit vectors.
FACENET_VGGFACE2 = ModelSpec(
    name="facenet-vggface2",
    dimension=512,
    preprocessing="facenet-mtcnn-160-m14-v1",
    calibration=Calibration(good=0.70, fair=0.75, poor=0.82, margin=0.10, near_duplicate=0.95, group_floor=0.75),
    descriptor_norm=1.0,
    cropper="facepipe.embedding.facenet:FacenetCropper",
    embedder="facepipe.embedding.facenet:load_embedder",
)

#: dlib's ResNet face descriptor, weights from ``face_recognition_models`` (``dlib_resnet.py``): the
#: model that runs offline.
#:
#: Calibration, measured with ``facepipe calibrate ../shared/fixtures/faces/labels.json <held-out set>``
#: (docs/calibration.md) on 28 identities (the shared fixtures, and 13 held-out identities plus
#: strangers from deepface's and facenet-pytorch's public test photos), every face at full size, at
#: 16-96 px, blurred and JPEG-damaged, in open-set splits (half of the identities never enrolled).
#: Impostor similarity reached 0.945 on good pairs (Angelina Jolie vs Kate Siegel, DiCaprio vs
#: Damon at 0.935), 0.951 on fair and 0.966 on poor ones. These values give 0 wrong names on that
#: sweep. The good band sits at its edge (0.925 gives 2 wrong names) and cannot rise: a
#: shared-fixture probe (misc/alex-lacamoire.png) matches its own person at 0.934. Fair has 0.01 to
#: spare, poor 0.005. No wrong name of the sweep depends on the margin; it is 0.06 because a sweep
#: of the same data with box-width sizes and black-padded context needed 0.05 at good 0.93, and
#: because look-alikes that are both enrolled are better left unnamed.
#:
#: Review groups: on the shared fixtures cut to 64x64 frames (faces 17-25 px, shifted, re-encoded,
#: brightened or darkened: 16 variants of each of 6 people), different people reached 0.941 and the
#: same person's faces had a closest other face of 0.941-0.99 (median 0.97); a floor of 0.95 keeps
#: every group pure and leaves ~5% of faces in groups of their own.
#:
#: Its raw descriptors are not unit vectors: their norm measured 1.32-1.58, mean 1.41, on the
#: fixtures (so a tolerance of 0.6 maps to a similarity of 0.91).
DLIB_RESNET = ModelSpec(
    name="dlib-resnet",
    dimension=128,
    preprocessing="dlib-5pt-chip-150-p25-v1",
    calibration=Calibration(good=0.93, fair=0.945, poor=0.97, margin=0.06, near_duplicate=0.985, group_floor=0.95),
    descriptor_norm=1.41,
    cropper="facepipe.embedding.dlib_resnet:DlibCropper",
    embedder="facepipe.embedding.dlib_resnet:load_embedder",
)

#: every model, by name (``EMBEDDING_MODEL``'s choices, in this order)
MODELS: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in (FACENET_VGGFACE2, DLIB_RESNET)})


def spec_of(model: str) -> ModelSpec:
    """``model``'s spec; a ``ConfigurationError`` naming the models when there is none."""
    try:
        return MODELS[model]
    except KeyError:
        raise ConfigurationError(f"unknown embedding model {model!r}; choose one of {', '.join(MODELS)}") from None


def calibration_for(
    model: str, good: float | None = None, margin: float | None = None, fair: float | None = None, poor: float | None = None
) -> Calibration:
    """``model``'s calibration (its spec's), moved to explicit thresholds and margin where they are set."""
    return spec_of(model).calibration.shifted_to(good, margin, fair, poor)
