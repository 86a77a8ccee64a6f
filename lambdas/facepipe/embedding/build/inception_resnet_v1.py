"""InceptionResnetV1, the network behind facenet-vggface2: facenet-pytorch's (v2.6.0, MIT licence,
Tim Esler), layer for layer and with the same parameter names, so its VGGFace2 state_dict loads
unchanged.

Restated rather than imported: importing facenet-pytorch imports torchvision (and its
``torch._dynamo``), which the image build's export and the tools need not load. Downloading
stays out too; the weights come from ``facepipe.embedding.weights``, checked.
``tests/test_models.py`` holds it to facenet-pytorch's network: same keys, same vectors.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

#: the classifier head of the released VGGFace2 weights (identities), loaded and never used
VGGFACE2_CLASSES = 8631


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (TensorFlow's eps), ReLU."""

    def __init__(
        self, in_planes: int, out_planes: int, kernel_size: int | tuple[int, int], stride: int, padding: int | tuple[int, int] = 0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.relu(self.bn(self.conv(x)))
        return result


class _Residual(nn.Module):
    """An Inception-ResNet block: its ``parallel`` branches joined, projected by ``conv2d``, scaled
    and added to the input, then ReLU (unless the block is the last)."""

    def __init__(self, scale: float, parallel: tuple[nn.Module, ...], conv2d: nn.Conv2d, relu: bool = True) -> None:
        super().__init__()
        self.scale = scale
        for number, branch in enumerate(parallel):
            self.add_module(f"branch{number}", branch)
        self.parallel = parallel  # the same modules, in order (a plain tuple adds no state_dict keys)
        self.conv2d = conv2d
        self.relu: nn.Module = nn.ReLU(inplace=False) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(torch.cat([branch(x) for branch in self.parallel], 1)) * self.scale + x
        result: torch.Tensor = self.relu(out)
        return result


class Block35(_Residual):
    def __init__(self, scale: float = 1.0) -> None:
        branches = (
            BasicConv2d(256, 32, kernel_size=1, stride=1),
            nn.Sequential(BasicConv2d(256, 32, kernel_size=1, stride=1), BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1)),
            nn.Sequential(
                BasicConv2d(256, 32, kernel_size=1, stride=1),
                BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
                BasicConv2d(32, 32, kernel_size=3, stride=1, padding=1),
            ),
        )
        super().__init__(scale, branches, nn.Conv2d(96, 256, kernel_size=1, stride=1))


class Block17(_Residual):
    def __init__(self, scale: float = 1.0) -> None:
        branches = (
            BasicConv2d(896, 128, kernel_size=1, stride=1),
            nn.Sequential(
                BasicConv2d(896, 128, kernel_size=1, stride=1),
                BasicConv2d(128, 128, kernel_size=(1, 7), stride=1, padding=(0, 3)),
                BasicConv2d(128, 128, kernel_size=(7, 1), stride=1, padding=(3, 0)),
            ),
        )
        super().__init__(scale, branches, nn.Conv2d(256, 896, kernel_size=1, stride=1))


class Block8(_Residual):
    def __init__(self, scale: float = 1.0, relu: bool = True) -> None:
        branches = (
            BasicConv2d(1792, 192, kernel_size=1, stride=1),
            nn.Sequential(
                BasicConv2d(1792, 192, kernel_size=1, stride=1),
                BasicConv2d(192, 192, kernel_size=(1, 3), stride=1, padding=(0, 1)),
                BasicConv2d(192, 192, kernel_size=(3, 1), stride=1, padding=(1, 0)),
            ),
        )
        super().__init__(scale, branches, nn.Conv2d(384, 1792, kernel_size=1, stride=1), relu)


class Mixed_6a(nn.Module):  # facenet-pytorch's name, kept in the state_dict's keys
    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, kernel_size=1, stride=1),
            BasicConv2d(192, 192, kernel_size=3, stride=1, padding=1),
            BasicConv2d(192, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):  # facenet-pytorch's name
    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, kernel_size=1, stride=1), BasicConv2d(256, 384, kernel_size=3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, kernel_size=1, stride=1), BasicConv2d(256, 256, kernel_size=3, stride=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, kernel_size=1, stride=1),
            BasicConv2d(256, 256, kernel_size=3, stride=1, padding=1),
            BasicConv2d(256, 256, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """(n, 3, 160, 160) standardised crops -> (n, 512) unit vectors. ``classes`` adds the unused
    ``logits`` layer a released state_dict carries (``VGGFACE2_CLASSES``)."""

    def __init__(self, classes: int | None = None, dropout_prob: float = 0.6) -> None:
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, kernel_size=3, stride=1)
        self.conv2d_2b = BasicConv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, kernel_size=1, stride=1)
        self.conv2d_4a = BasicConv2d(80, 192, kernel_size=3, stride=1)
        self.conv2d_4b = BasicConv2d(192, 256, kernel_size=3, stride=2)
        self.repeat_1 = nn.Sequential(*(Block35(scale=0.17) for _ in range(5)))
        self.mixed_6a = Mixed_6a()
        self.repeat_2 = nn.Sequential(*(Block17(scale=0.10) for _ in range(10)))
        self.mixed_7a = Mixed_7a()
        self.repeat_3 = nn.Sequential(*(Block8(scale=0.20) for _ in range(5)))
        self.block8 = Block8(relu=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout_prob)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1, affine=True)
        if classes is not None:
            self.logits = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stem in (self.conv2d_1a, self.conv2d_2a, self.conv2d_2b, self.maxpool_3a, self.conv2d_3b, self.conv2d_4a, self.conv2d_4b):
            x = stem(x)
        x = self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x)))))
        x = self.dropout(self.avgpool_1a(self.block8(x)))
        x = self.last_bn(self.last_linear(x.view(x.shape[0], -1)))
        return functional.normalize(x, p=2, dim=1)
