"""InceptionResnetV1 prepared for inference: the same vectors (to ~1e-7) with less work per face.

Built from a loaded ``InceptionResnetV1`` into new tensors, then exported (``onnx_export``):

- every batch norm folded into the convolution before it (torch's ``fuse_conv_bn_weights``), ReLU in place;
- the 1 x 1 convolutions that an Inception block's branches all start with, on the same
  input, merged into one wider convolution whose output is split between the branches
  (one larger matrix product instead of two or three small ones);
- each residual block's ``scale`` folded into its projection, the residual added in place;
- the last linear layer and its batch norm folded into one affine map (``fuse_linear_bn_weights``).

``tests/test_models.py`` holds the exported vectors to facenet-pytorch's network (random weights
with non-trivial batch-norm statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from facepipe.embedding.build.inception_resnet_v1 import BasicConv2d, InceptionResnetV1, Mixed_6a, Mixed_7a, _Residual


def _running_statistics(norm: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch norm's running mean and variance, which folding needs (eval-mode statistics)."""
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("a batch norm without running statistics cannot be folded")
    return norm.running_mean, norm.running_var


class FusedConv(nn.Module):
    """A ``BasicConv2d`` with its batch norm folded in: convolution with bias, then ReLU in place."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, stride: tuple[int, ...], padding: tuple[int, ...] | str) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last), requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        self.stride, self.padding = stride, padding

    @classmethod
    def of(cls, layers: Sequence[BasicConv2d]) -> FusedConv:
        """One convolution for ``layers`` (same input, kernel, stride and padding), outputs stacked in order."""
        folded = [
            fuse_conv_bn_weights(
                layer.conv.weight, layer.conv.bias, *_running_statistics(layer.bn), layer.bn.eps, layer.bn.weight, layer.bn.bias
            )
            for layer in layers
        ]
        first = layers[0].conv
        return cls(torch.cat([weight for weight, _ in folded]), torch.cat([bias for _, bias in folded]), first.stride, first.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu_(functional.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def _chain(layers: Sequence[nn.Module]) -> nn.Sequential:
    """``BasicConv2d`` layers in a row, each fused (none: the identity)."""
    return nn.Sequential(*(FusedConv.of([cast(BasicConv2d, layer)]) for layer in layers))


class FusedBranches(nn.Module):
    """Parallel branches that each start with a 1 x 1 ``BasicConv2d`` on the same input: one merged
    convolution, split, then each branch's remaining layers; outputs joined along the channels."""

    def __init__(self, branches: Sequence[nn.Module]) -> None:
        super().__init__()
        layers = [list(branch) if isinstance(branch, nn.Sequential) else [branch] for branch in branches]
        starts = [cast(BasicConv2d, branch[0]) for branch in layers]
        self.first = FusedConv.of(starts)
        self.widths: list[int] = [start.conv.out_channels for start in starts]
        self.rests = nn.ModuleList(_chain(branch[1:]) for branch in layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        parts = torch.split(self.first(x), self.widths, dim=1)
        return [rest(part) for rest, part in zip(self.rests, parts, strict=True)]


class FusedResidual(nn.Module):
    """Block35 / Block17 / Block8: merged branches, the projection pre-scaled, the input added in place."""

    def __init__(self, block: _Residual) -> None:
        super().__init__()
        self.branches = FusedBranches(block.parallel)
        projection = block.conv2d
        assert projection.bias is not None
        self.weight = nn.Parameter((projection.weight * block.scale).contiguous(memory_format=torch.channels_last), requires_grad=False)
        self.bias = nn.Parameter(projection.bias * block.scale, requires_grad=False)
        self.relu = isinstance(block.relu, nn.ReLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.conv2d(torch.cat(self.branches(x), 1), self.weight, self.bias).add_(x)
        return functional.relu_(out) if self.relu else out


class FusedMixed6a(nn.Module):
    def __init__(self, block: Mixed_6a) -> None:
        super().__init__()
        self.branch0 = FusedConv.of([block.branch0])
        self.branch1 = _chain(list(block.branch1))
        self.branch2 = block.branch2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class FusedMixed7a(nn.Module):
    def __init__(self, block: Mixed_7a) -> None:
        super().__init__()
        self.branches = FusedBranches((block.branch0, block.branch1, block.branch2))
        self.pool = block.branch3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((*self.branches(x), self.pool(x)), 1)


class FusedInceptionResnetV1(nn.Module):
    """``InceptionResnetV1.forward`` (eval mode) on channels-last crops, from ``network``'s weights."""

    def __init__(self, network: InceptionResnetV1) -> None:
        super().__init__()
        stem = (
            network.conv2d_1a,
            network.conv2d_2a,
            network.conv2d_2b,
            network.maxpool_3a,
            network.conv2d_3b,
            network.conv2d_4a,
            network.conv2d_4b,
        )
        self.stem = nn.Sequential(*(FusedConv.of([layer]) if isinstance(layer, BasicConv2d) else layer for layer in stem))
        self.body = nn.Sequential(
            *(FusedResidual(cast(_Residual, block)) for block in network.repeat_1),
            FusedMixed6a(network.mixed_6a),
            *(FusedResidual(cast(_Residual, block)) for block in network.repeat_2),
            FusedMixed7a(network.mixed_7a),
            *(FusedResidual(cast(_Residual, block)) for block in network.repeat_3),
            FusedResidual(network.block8),
        )
        norm = network.last_bn
        weight, bias = fuse_linear_bn_weights(
            network.last_linear.weight, None, *_running_statistics(norm), norm.eps, norm.weight, norm.bias
        )
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(self.stem(x)).mean((2, 3))  # AdaptiveAvgPool2d(1); dropout is off in eval
        return functional.normalize(functional.linear(features, self.weight, self.bias), p=2, dim=1)


def fused_for_inference(network: InceptionResnetV1) -> FusedInceptionResnetV1:
    """``network`` (its weights loaded) prepared for inference; build it under ``torch.no_grad``."""
    with torch.no_grad():
        return FusedInceptionResnetV1(network.eval()).eval()
