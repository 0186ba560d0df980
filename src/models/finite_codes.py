"""No metric and no code from non-finite numbers (trial 8, E_mean_huge: a checkpoint with
image_mean 3e38 gave +-inf/NaN activations, every image code -1 and a "completed" mAP).
`encode` (every method's evaluation and code export) checks the encoder inputs after
normalisation and the real-valued codes before they are binarised: sign() maps NaN to -1
and inf to +1, so a code set from non-finite numbers looks like a (poor) model. Only when one
of them is not finite does `finite_codes` encode again with a forward hook on every submodule,
to name the first place (inputs, activations, codes) that went non-finite: a finite batch
costs one normalisation, one forward pass and one host synchronisation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from src.utils.errors import AGCHError


class NonFiniteCodes(AGCHError):
    """The model gave non-finite encoder inputs, activations or real-valued codes. ``what``
    keeps the message as raised (a training callback may append to ``args``)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class Encoder(Protocol):
    """What `finite_codes` uses of a hashing module (`src.models.base`)."""

    def normalised_codes(self, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]: ...

    def named_modules(self) -> Iterator[tuple[str, nn.Module]]: ...


def finite_codes(model: Encoder, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
    """Real-valued codes (m, c) of the encoder inputs x_v, x_t (already normalised) by
    ``model.normalised_codes``, without hooks; when an input or a code is not finite, encode
    again under `activations_checked` and raise `NonFiniteCodes` naming the first stage that
    held a non-finite value: the normalised inputs, the activations, the real-valued codes."""
    B_v, B_t = model.normalised_codes(x_v, x_t)
    if bool(torch.stack([t.isfinite().all() for t in (x_v, x_t, B_v, B_t)]).all()):
        return B_v, B_t  # the common path: one synchronisation
    check_finite_codes("the normalised inputs", {"image": x_v, "text": x_t})
    with activations_checked(model):  # type: ignore[arg-type]
        model.normalised_codes(x_v, x_t)
    check_finite_codes("the real-valued codes", {"image": B_v, "text": B_t})
    return B_v, B_t  # not reached: a non-finite code always raises above


def check_finite_codes(stage: str, named: dict[str, Tensor]) -> None:
    """Raise `NonFiniteCodes` naming each tensor of ``named`` (``stage`` names where: "the
    normalised inputs", "the real-valued codes") with a non-finite entry, and how many of its
    items (rows) hold one."""
    bad = []
    for name, value in named.items():
        rows = (~value.isfinite()).flatten(1).any(dim=1) if value.dim() > 1 else ~value.isfinite()
        if bool(rows.any()):
            bad.append(f"{name} {int(rows.sum())} of {rows.numel()} items")
    if bad:
        raise NonFiniteCodes(
            f"non-finite values in {stage} ({', '.join(bad)}): no codes or metrics are made "
            "from them"
        )


@contextlib.contextmanager
def activations_checked(model: nn.Module) -> Iterator[None]:
    """Run the block with a forward hook on every submodule of ``model``; when the block
    ends, raise `NonFiniteCodes` naming the submodules (first three) whose floating-point
    output held a non-finite value. The hooks are removed in every case."""
    bad: list[str] = []

    def hook(name: str) -> Any:
        def seen(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, Tensor) and output.is_floating_point():
                if name not in bad and not bool(output.isfinite().all()):
                    bad.append(name)

        return seen

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise NonFiniteCodes(
            f"non-finite activations in {', '.join(bad[:3])}{more}: no codes or metrics are "
            "made from them"
        )
