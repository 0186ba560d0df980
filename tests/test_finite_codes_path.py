"""The cost of the finite-codes check (review of issue 22): a finite batch is normalised once
and encoded once without forward hooks (one host synchronisation); only a non-finite one is
encoded again under the hooks, to name where it went non-finite. Generated over every method
(the five neural ones of test_finite_codes and the closed-form CCA-ITQ and CMFH): the codes are
the sign of the real-valued codes, bit for bit, and a refused batch gets the message the full
check (inputs, then hooks on every activation, then codes) gives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from test_finite_codes import CASES, DIMS, MAKERS, FakeData, batch

from src.models.base import CrossModalHashingModule
from src.models.cca_itq import CCAITQModule
from src.models.cmfh import CMFHModule
from src.models.finite_codes import NonFiniteCodes, activations_checked, check_finite_codes


def closed_form(cls: type[CrossModalHashingModule]) -> Callable[[FakeData], torch.nn.Module]:
    """A closed-form method with random (seeded) projections and the fake input statistics."""

    def make(data: FakeData) -> torch.nn.Module:
        model = cls(*DIMS, code_length=6)
        model.set_input_stats(data.train_statistics())
        rng = torch.Generator().manual_seed(3)
        for name, buffer in model.named_buffers():
            if name in ("W_image", "W_text", "R"):
                buffer.copy_(torch.randn(buffer.shape, generator=rng))
        return model

    return make


ALL = {**MAKERS, "cca_itq": closed_form(CCAITQModule), "cmfh": closed_form(CMFHModule)}


def model_of(method: str) -> CrossModalHashingModule:
    model = ALL[method](FakeData())
    model.eval()
    return model


@pytest.mark.parametrize("method", sorted(ALL))
def test_finite_batch_one_normalisation_no_hooks(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finite batch: no forward hook registered, the inputs normalised once."""
    model = model_of(method)
    hooks, norms = [], []
    register, normalise = torch.nn.Module.register_forward_hook, type(model).normalise_inputs

    def counted_hook(self: torch.nn.Module, *args, **kwargs):  # type: ignore[no-untyped-def]
        hooks.append(self)
        return register(self, *args, **kwargs)

    def counted_norm(self: CrossModalHashingModule, *args, **kwargs):  # type: ignore
        norms.append(1)
        return normalise(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "register_forward_hook", counted_hook)
    monkeypatch.setattr(type(model), "normalise_inputs", counted_norm)
    model.encode(*batch())
    assert (len(hooks), len(norms)) == (0, 1)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("method", sorted(ALL))
def test_codes_are_the_sign_of_the_real_codes(method: str, seed: int) -> None:
    """Bit-identical codes: encode == where(continuous_codes > 0, 1, -1), float32."""
    model = model_of(method)
    rng = torch.Generator().manual_seed(seed)
    x_v, x_t = torch.randn(20, DIMS[0], generator=rng), torch.randn(20, DIMS[1], generator=rng)
    with torch.no_grad():
        real = model.continuous_codes(x_v, x_t)
    for got, r in zip(model.encode(x_v, x_t), real):
        assert got.dtype == torch.float32
        assert torch.equal(got, torch.where(r > 0, 1.0, -1.0))


def full_check_message(model: CrossModalHashingModule) -> str:
    """The message of the full check, as encode made it before: the normalised inputs, then
    a hook on every submodule, then the real-valued codes."""
    try:
        inputs = model.normalise_inputs(*batch())
        check_finite_codes("the normalised inputs", dict(zip(("image", "text"), inputs)))
        with torch.no_grad(), activations_checked(model):
            B_v, B_t = model.continuous_codes(*batch())
        check_finite_codes("the real-valued codes", {"image": B_v, "text": B_t})
    except NonFiniteCodes as error:
        return error.what
    return ""


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("method,name", CASES)
def test_refusal_names_the_same_place(method: str, name: str, value: float) -> None:
    """A non-finite weight or input statistic: the same message (or the same codes) as the
    full check gives."""
    model = model_of(method)
    with torch.no_grad():
        dict(model.named_parameters())[name].fill_(value)
        model.text_mean.fill_(value) if name.startswith("text") else None
    expected = full_check_message(model)
    try:
        model.encode(*batch())
        got = ""
    except NonFiniteCodes as error:
        got = error.what
    assert got == expected
