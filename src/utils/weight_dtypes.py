"""A checkpoint's weights are of the dtype its run wrote them in (trial 8, E_w_half / E_w_int:
a re-signed checkpoint whose weights were float16, or one matrix int64, was silently cast by
``load_state_dict`` and evaluated). src/train.py writes floating-point tensors in the dtype
of its ``trainer.precision`` (float32; float64, float16 or bfloat16 for the "-true"
precisions), other tensors in the model's own dtype; anything else is an edited or
converted file and refused naming the tensor (`check_weight_dtypes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from src.utils.errors import ConfigError

TRUE_PRECISIONS = {
    "64-true": torch.float64,
    "64": torch.float64,
    "16-true": torch.float16,
    "bf16-true": torch.bfloat16,
}


def float_dtype(checkpoint: Mapping[str, Any]) -> torch.dtype:
    """The floating dtype of the weights the checkpoint's run wrote (its recorded
    ``trainer.precision``; float32 when it records none)."""
    settings = checkpoint.get("run_settings") or {}
    precision = str(settings.get("trainer.precision", "32-true"))
    return TRUE_PRECISIONS.get(precision, torch.float32)


def check_weight_dtypes(
    model: torch.nn.Module, checkpoint: Mapping[str, Any], path: object
) -> None:
    """Raise ConfigError naming the checkpoint and the first tensor of its ``state_dict``
    (shapes already fit) that is no tensor or not of the dtype the run writes it in."""
    want_float = float_dtype(checkpoint)
    for key, own in model.state_dict().items():
        value = checkpoint["state_dict"].get(key)
        want = want_float if own.is_floating_point() else own.dtype
        found = getattr(value, "dtype", type(value).__name__)
        if isinstance(value, torch.Tensor) and value.dtype == want:
            continue
        raise ConfigError(
            f"ckpt_path: {path}: weights {key!r} are {found}, expected {want} (what src/train.py "
            "writes for its trainer.precision): an edited or converted checkpoint; use the "
            "run's own file"
        )
