"""No metric and no code from non-finite numbers (trial 8, E_mean_huge: a re-signed checkpoint
with image_mean 3e38 gave inf/NaN activations, every image code -1 and a "completed" map@50).
Generated: every neural method x every way a finite checkpoint can give non-finite numbers
(input statistics, a huge or non-finite weight of each layer); `encode` raises NonFiniteCodes
and eval.py's guard turns it into one DataError naming the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_agch_module import make_module as make_agch
from test_dgcpn_module import make_module as make_dgcpn
from test_djsrh_module import make_module as make_djsrh
from test_jdsh_module import make_module as make_jdsh
from test_ucch_module import make_module as make_ucch

from src.eval import finite_or_refused
from src.models.finite_codes import NonFiniteCodes
from src.utils.errors import DataError

DIMS = (12, 10)
MAKERS = {
    "agch": make_agch,
    "djsrh": make_djsrh,
    "jdsh": make_jdsh,
    "ucch": make_ucch,
    "dgcpn": make_dgcpn,
}


class FakeData:
    """What make_module reads of a datamodule: feature sizes and training statistics."""

    def feature_dims(self) -> tuple[int, int]:
        return DIMS

    def train_statistics(self) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(0)
        return {
            "image_mean": rng.normal(size=DIMS[0]),
            "image_std": rng.uniform(0.5, 2, DIMS[0]),
            "text_mean": rng.normal(size=DIMS[1]),
            "text_std": rng.uniform(0.5, 2, DIMS[1]),
        }


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(1)
    return torch.randn(8, DIMS[0], generator=rng), torch.randn(8, DIMS[1], generator=rng)


def model_of(method: str) -> torch.nn.Module:
    model = MAKERS[method](FakeData())
    model.eval()
    return model


STATS = {"image_mean": 3e38, "text_mean": -3e38, "image_std": 1e-45, "text_std": 1e-45}


@pytest.mark.parametrize("value", ["huge", "nan", "inf"])
@pytest.mark.parametrize("stat", sorted(STATS))
@pytest.mark.parametrize("method", sorted(MAKERS))
def test_bad_input_statistics(method: str, stat: str, value: str) -> None:
    """An input statistic whose normalised inputs are not finite: refused; one the method's
    input normalisation does not use (text_norm "l2") or that gives finite inputs (x / inf):
    encoded as before."""
    model = model_of(method)
    clean = model.normalise_inputs(*batch())
    number = {"huge": STATS[stat], "nan": float("nan"), "inf": float("inf")}[value]
    getattr(model, stat).fill_(number)
    used = any(not torch.equal(a, b) for a, b in zip(clean, model.normalise_inputs(*batch())))
    kind = "std" if stat.endswith("std") else "mean"
    sure = value == "nan" or (value == "huge") == (kind == "std")
    if not used or not sure:  # huge mean, inf std (x / inf = 0): may well be finite
        try:  # either codes or the refusal, never another error
            model.encode(*batch())
        except NonFiniteCodes:
            pass
        return
        model.encode(*batch())
        return
    with pytest.raises(NonFiniteCodes, match="non-finite"):
        model.encode(*batch())


def weight_names(method: str) -> list[str]:
    """The floating-point weight matrices of the method's test-time branches."""
    model = model_of(method)
    return [n for n, p in model.named_parameters() if p.dim() == 2]


CASES = [(m, n) for m in sorted(MAKERS) for n in weight_names(m)]


def uses(model: torch.nn.Module, name: str) -> bool:
    """Whether encoding depends on parameter ``name``: a small finite change of it changes
    the real-valued codes (the oracle, independent of the check under test)."""
    before = model.continuous_codes(*batch())
    with torch.no_grad():
        dict(model.named_parameters())[name].add_(0.5)
    after = model.continuous_codes(*batch())
    with torch.no_grad():
        dict(model.named_parameters())[name].sub_(0.5)
    return any(not torch.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("method,name", CASES)
def test_bad_weight_of_each_layer(method: str, name: str, value: float) -> None:
    """One weight matrix set non-finite: refused when encoding uses the layer, and only
    then (a training-only layer changes nothing)."""
    model = model_of(method)
    used = uses(model, name)
    with torch.no_grad():
        dict(model.named_parameters())[name].fill_(value)
    if used:
        with pytest.raises(NonFiniteCodes, match="non-finite"):
            model.encode(*batch())
    else:
        model.encode(*batch())


@pytest.mark.parametrize("method", sorted(MAKERS))
def test_clean_model_encodes(method: str) -> None:
    """A clean model: codes in {-1, +1}, no error."""
    for codes in model_of(method).encode(*batch()):
        assert set(codes.unique().tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize("method", sorted(MAKERS))
def test_eval_names_the_checkpoint(method: str) -> None:
    """eval.py: one DataError naming the checkpoint, the message kept as raised."""
    model = model_of(method)
    model.image_mean.fill_(3e38)
    with pytest.raises(DataError) as info:
        with finite_or_refused("/runs/x/last.ckpt"):
            model.encode(*batch())
    message = str(info.value)
    assert message.startswith("/runs/x/last.ckpt: non-finite values"), message
    assert "\n" not in message
