"""Weights of another dtype than the run writes are refused, never cast (trial 8, E_w_half /
E_w_int: a re-signed checkpoint with float16 weights, or one matrix int64, was evaluated).
Generated: every tensor of a method's state, each set to every other dtype, against the
checkpoint's recorded trainer.precision; the run's own dtypes (each "-true" precision
included) are accepted."""

from __future__ import annotations

import pytest
import torch

from src.models.agch_module import AGCHModule
from src.models.ucch_module import UCCHModule
from src.utils.errors import ConfigError
from src.utils.weight_dtypes import check_weight_dtypes, float_dtype

MODELS = {
    "agch": lambda: AGCHModule(image_dim=6, text_dim=5, hidden_dim=8, gcn_dim=4, code_length=8),
    "ucch": lambda: UCCHModule(image_dim=6, text_dim=5, code_length=8),
}
DTYPES = [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.uint8]


def checkpoint(model: torch.nn.Module, precision: str | None = "32-true") -> dict:
    settings = {} if precision is None else {"trainer.precision": precision}
    want = float_dtype({"run_settings": settings})
    state = {
        k: v.to(want) if v.is_floating_point() else v.clone()
        for k, v in model.state_dict().items()
    }
    return {"state_dict": state, "run_settings": settings}


def keys(method: str) -> list[str]:
    return list(MODELS[method]().state_dict())


CASES = [(m, k) for m in sorted(MODELS) for k in keys(m)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("method,key", CASES)
def test_one_tensor_of_another_dtype_refused(method: str, key: str, dtype: torch.dtype) -> None:
    model = MODELS[method]()
    saved = checkpoint(model)
    if saved["state_dict"][key].dtype == dtype:
        pytest.skip("the run's own dtype")
    saved["state_dict"][key] = saved["state_dict"][key].to(dtype)
    with pytest.raises(ConfigError, match=rf"ckpt_path: c\.ckpt: weights '{key}' are"):
        check_weight_dtypes(model, saved, "c.ckpt")


@pytest.mark.parametrize(
    "precision",
    ["32-true", "32", "16-mixed", "bf16-mixed", "64-true", "16-true", "bf16-true", None],
)
@pytest.mark.parametrize("method", sorted(MODELS))
def test_the_runs_own_dtypes_accepted(method: str, precision: str | None) -> None:
    model = MODELS[method]()
    check_weight_dtypes(model, checkpoint(model, precision), "c.ckpt")


@pytest.mark.parametrize("method", sorted(MODELS))
def test_whole_state_converted_refused(method: str) -> None:
    """E_w_half: every floating tensor float16 in a 32-true run's checkpoint."""
    model = MODELS[method]()
    saved = checkpoint(model)
    saved["state_dict"] = {
        k: v.half() if v.is_floating_point() else v for k, v in saved["state_dict"].items()
    }
    with pytest.raises(ConfigError, match="float16"):
        check_weight_dtypes(model, saved, "c.ckpt")


@pytest.mark.parametrize("value", [None, 3, [1.0], "w"])
def test_not_a_tensor_refused(value: object) -> None:
    model = MODELS["agch"]()
    saved = checkpoint(model)
    saved["state_dict"]["fusion.proj.bias"] = value
    with pytest.raises(ConfigError, match="fusion.proj.bias"):
        check_weight_dtypes(model, saved, "c.ckpt")
