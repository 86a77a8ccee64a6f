"""facenet-pytorch's MTCNN (v2.6.0, MIT licence, Tim Esler) for one frame: the same faces, boxes,
scores and landmarks, with a fraction of the work and without importing facenet-pytorch or
torchvision (torchvision's ``torch._dynamo`` import costs ~1.5 s of every cold start).

- ``nets``: P-Net, R-Net and O-Net, restated layer for layer, and the weights facenet-pytorch ships.
- ``resampling``: the frame's pyramid levels and the boxes' crops, read off one summed-area table.
- ``boxes``: facenet-pytorch's box helpers: candidates from P-Net's windows, regression, squaring, clipping.
- ``nms``: torchvision's ``nms`` in NumPy (float32, stable order) and facenet-pytorch's "Min" suppression.
- ``pipeline``: ``detect_face``, the three stages (proposal, refinement, output) in facenet-pytorch's order.

Three things differ from facenet-pytorch, none of them a result:

- **Resampling.** facenet-pytorch resamples with ``interpolate(mode="area")`` from the
  full-resolution float tensor, once per pyramid level and once per candidate box (a Python
  loop of hundreds of calls, ~40% of its time). Here every such average is read off one
  summed-area table of the uint8 frame: the same bins, exact integer sums, so the resampled
  pixels equal facenet-pytorch's up to float32 rounding (~1e-5).
- **Memory layout.** The nets run on channels-last (NHWC) tensors; values agree to ~1e-6.
  P-Net's first max-pool is taken as maxima of strided views, rows first (``max_pool_2x2``):
  the same values, without torch's slow channels-last pooling of 10 channels.
- **P-Net's heads** (``PNet.windows``): the face probability of each window as the sigmoid of
  its two logits' difference (the softmax's value, to ~1e-6), and the box regression only for
  the windows that pass the threshold.

The results agree with facenet-pytorch's ``detect_face`` to float32 rounding (~1e-4 px);
``tests/test_bench_mtcnn.py`` holds them to it. Arrays: ``pixels`` is H x W x 3 uint8 RGB.
"""

from __future__ import annotations

from facepipe.detection.mtcnn.nets import ONet, PNet, RNet, load_networks
from facepipe.detection.mtcnn.pipeline import detect_face

__all__ = ["ONet", "PNet", "RNet", "detect_face", "load_networks"]
