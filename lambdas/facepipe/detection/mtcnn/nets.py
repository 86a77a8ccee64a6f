"""MTCNN's three networks, facenet-pytorch's ``models/mtcnn.py`` restated, and the weights it ships.

The layers keep facenet-pytorch's names (``conv1``, ``prelu1``, ``dense5_1`` ...): they are the
keys of its ``pnet.pt``, ``rnet.pt`` and ``onet.pt``, loaded here from its package data without
importing it (importing facenet-pytorch imports torchvision, whose ``torch._dynamo`` import
costs ~1.5 s of every cold start).

The nets run on channels-last (NHWC) tensors (``load_networks`` converts their weights); values
agree with facenet-pytorch's NCHW ones to ~1e-6. Inputs are normalised pixels,
``(x - 127.5) / 128`` (``resampling``), shaped (n, 3, h, w).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from facepipe.exceptions import ModelUnavailableError

#: P-Net looks at windows of this many pixels, one every PNET_STRIDE pixels of a pyramid level
PNET_WINDOW = 12
PNET_STRIDE = 2
#: the side of the square crops R-Net and O-Net read
RNET_INPUT_SIDE = 24
ONET_INPUT_SIDE = 48


class PNet(nn.Module):
    """MTCNN's proposal network: per 12 x 12 window, box regression (n, 4, h, w) and face probability (n, 2, h, w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(x)
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 32 channels both heads read, (n, 32, h, w); ``pool1`` taken by ``max_pool_2x2``."""
        result: torch.Tensor = self.prelu3(self.conv3(self.prelu2(self.conv2(max_pool_2x2(self.prelu1(self.conv1(x)))))))
        return result

    def windows(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For one image (1, 3, H, W): the (row, column) of every window whose face probability is at
        least ``threshold``, (k, 2) in row-major order, with its probability (k,) and regression (k, 4).

        ``forward``'s numbers (to ~1e-6) at a fraction of its heads' cost, which on a large pyramid
        level is as much as a convolution's: the probability of a softmax over two logits is the
        sigmoid of their difference, one 32 -> 1 product per window instead of two 1 x 1
        convolutions; the regression is computed only where a window passes."""
        features = self.features(x)
        height, width = features.shape[2:]
        per_window = features.permute(0, 2, 3, 1).reshape(height * width, -1)  # channels-last: a view
        class_weight, class_bias = self.conv4_1.weight.flatten(1), self.conv4_1.bias
        face_margin = functional.linear(
            per_window, class_weight[1:] - class_weight[:1], None if class_bias is None else class_bias[1:] - class_bias[:1]
        )
        probability = torch.sigmoid(face_margin.squeeze(1))
        passing = (probability >= threshold).nonzero().squeeze(1)
        regression = functional.linear(per_window[passing], self.conv4_2.weight.flatten(1), self.conv4_2.bias)
        return torch.stack((passing // width, passing % width), dim=1), probability[passing], regression


def max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``MaxPool2d(2, 2, ceil_mode=True)`` (P-Net's ``pool1``) of a channels-last tensor, equal to it
    value for value: torch's channels-last kernel is slow on P-Net's 10 channels (~10% of
    detection on the shared probes). Rows are paired first, over whole contiguous rows, then
    columns, over half the data. On an odd edge the last cell keeps its one row or column."""
    batch, channels, height, width = x.shape
    rows, columns = height // 2, width // 2  # cells with a full second row / column
    nhwc = x.permute(0, 2, 3, 1)
    paired = torch.empty(batch, rows + height % 2, width, channels, dtype=x.dtype)
    torch.maximum(nhwc[:, 0 : 2 * rows : 2], nhwc[:, 1 : 2 * rows : 2], out=paired[:, :rows])
    if height % 2:
        paired[:, rows] = nhwc[:, -1]
    pooled = torch.empty(batch, paired.shape[1], columns + width % 2, channels, dtype=x.dtype)
    torch.maximum(paired[:, :, 0 : 2 * columns : 2], paired[:, :, 1 : 2 * columns : 2], out=pooled[:, :, :columns])
    if width % 2:
        pooled[:, :, columns] = paired[:, :, -1]
    return pooled.permute(0, 3, 1, 2)


class RNet(nn.Module):
    """MTCNN's refinement network on 24 x 24 crops: box regression (n, 4) and face probability (n, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool2(self.prelu2(self.conv2(self.pool1(self.prelu1(self.conv1(x))))))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """MTCNN's output network on 48 x 48 crops: box regression (n, 4), landmarks (n, 10), face probability (n, 2).

    The landmarks are the five points' x coordinates then their y coordinates, as fractions of the crop."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool2(self.prelu2(self.conv2(self.pool1(self.prelu1(self.conv1(x))))))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


def channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` (in place) with its convolution weights in channels-last layout, as the detection pipeline wants its nets."""
    return module.to(memory_format=torch.channels_last)


def facenet_data_dir() -> Path:
    """facenet-pytorch's ``data`` folder (the MTCNN weights it ships), found without importing it."""
    spec = find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "facenet-pytorch is not installed: MTCNN's weights ship inside it (pip install facenet-pytorch --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_networks() -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net and O-Net with facenet-pytorch's weights, in eval mode and channels-last."""
    folder = facenet_data_dir()
    nets = PNet(), RNet(), ONet()
    for net, name in zip(nets, ("pnet", "rnet", "onet"), strict=True):
        net.load_state_dict(torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True))
        channels_last(net.eval())
    return nets
