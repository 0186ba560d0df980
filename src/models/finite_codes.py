"""No metric and no code from non-finite numbers (trial 8, E_mean_huge: a checkpoint with
image_mean 3e38 gave +-inf/NaN activations, every image code -1 and a "completed" mAP).
`encode` (every method's evaluation and code export) checks the encoder inputs after
normalisation, the output of every submodule (its activations) and the real-valued codes
before they are binarised: sign() maps NaN to -1
and inf to +1, so a code set from non-finite numbers looks like a (poor) model."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn

from src.utils.errors import AGCHError


class NonFiniteCodes(AGCHError):
    """The model gave non-finite encoder inputs, activations or real-valued codes. ``what``
    keeps the message as raised (a training callback may append to ``args``)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


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
