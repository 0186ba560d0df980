"""Checked inputs of the retrieval metrics: codes in {-1, +1}, labels, float32 computation.

Every check raises ``ValueError`` naming the argument and what was expected, so that a wrong
label form (an [N, 1] column of class ids, -1/+1 labels, fractions, NaN) can never give a
silently wrong mAP. Two label forms are accepted:

- multi-hot: [N, L] with L >= 2 and every value 0 or 1 (bool, integer or float dtype); a row
  without a label is allowed and is relevant to no query;
- class ids: a 1-D tensor [N] of an integer dtype with values >= 0 (one class per item).

Query and retrieval labels must use the same form (and the same L). Relevance of a retrieval
item to a query: they share at least one label.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray | Sequence
F = TypeVar("F", bound=Callable)


def as_tensor(x: ArrayLike, name: str, device: torch.device | None = None) -> Tensor:
    """`x` as a tensor (numpy arrays and nested sequences converted), detached, on `device`."""
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__}") from err
    x = x.detach()
    return x.to(device) if device is not None and x.device != device else x


def check_codes(B: ArrayLike, name: str, device: torch.device | None = None) -> Tensor:
    """Codes as float32 [n, c] with every entry -1 or +1; ValueError naming `name` otherwise."""
    B = as_tensor(B, name, device)
    if B.dim() != 2:
        raise ValueError(f"{name}: expected codes of shape [n, c], got shape {tuple(B.shape)}")
    if B.dtype == torch.bool or B.is_complex():
        raise ValueError(f"{name}: expected real codes in {{-1, +1}}, got dtype {B.dtype}")
    B = B.to(torch.float32)
    if not bool(B.abs().eq_(1).all()):
        raise ValueError(
            f"{name}: expected every code entry to be -1 or +1 (for {{0, 1}} bits pass "
            "2 * b - 1), found other values"
        )
    return B


def check_code_pair(query_codes: ArrayLike, retrieval_codes: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both code sets checked, float32 on the query codes' device, with one code length c."""
    Bq = check_codes(query_codes, "query_codes")
    Br = check_codes(retrieval_codes, "retrieval_codes", Bq.device)
    if Bq.shape[1] != Br.shape[1]:
        raise ValueError(
            f"retrieval_codes: expected the code length of query_codes ({Bq.shape[1]} bits), "
            f"got {Br.shape[1]}"
        )
    return Bq, Br


def check_labels(L: ArrayLike, name: str, device: torch.device | None = None) -> Tensor:
    """Labels in one of the two accepted forms (see the module docstring), unchanged dtype."""
    L = as_tensor(L, name, device)
    if L.dim() == 1:
        if L.dtype == torch.bool or L.is_floating_point() or L.is_complex():
            raise ValueError(
                f"{name}: 1-D labels are class ids and must have an integer dtype, got "
                f"{L.dtype} (pass multi-hot labels as [N, L] with 0/1 values)"
            )
        if L.numel() and int(L.min()) < 0:
            raise ValueError(f"{name}: expected class ids >= 0, found {int(L.min())}")
        return L
    if L.dim() != 2 or L.shape[1] < 2:
        raise ValueError(
            f"{name}: expected multi-hot labels [N, L] with L >= 2 or class ids [N], got shape "
            f"{tuple(L.shape)} (an [N, 1] column is ambiguous: pass class ids as a 1-D tensor)"
        )
    if L.dtype != torch.bool and not bool(((L == 0) | (L == 1)).all()):
        raise ValueError(f"{name}: expected multi-hot labels with every value 0 or 1")
    return L


def check_label_pair(
    query_labels: ArrayLike, retrieval_labels: ArrayLike, nq: int, nr: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Float32 multi-hot [nq, C] and [nr, C] (class ids become one-hot), their rows checked
    against the numbers of query and retrieval codes nq and nr."""
    Lq = check_labels(query_labels, "query_labels", device)
    Lr = check_labels(retrieval_labels, "retrieval_labels", device)
    for L, name, n in ((Lq, "query_labels", nq), (Lr, "retrieval_labels", nr)):
        if L.shape[0] != n:
            split = name.split("_")[0]
            raise ValueError(f"{name}: expected {n} rows (one per {split} code), got {L.shape[0]}")
    if Lq.dim() != Lr.dim() or Lq.shape[1:] != Lr.shape[1:]:
        want = "class ids [N]" if Lq.dim() == 1 else f"multi-hot [N, {Lq.shape[1]}]"
        raise ValueError(
            f"retrieval_labels: expected the form of query_labels, {want}, got shape "
            f"{tuple(Lr.shape)}"
        )
    if Lq.dim() == 1:
        n_classes = int(max(Lq.max(), Lr.max())) + 1 if nq and nr else 1
        Lq = torch.nn.functional.one_hot(Lq.long(), n_classes)  # (nq, C)
        Lr = torch.nn.functional.one_hot(Lr.long(), n_classes)  # (nr, C)
    return Lq.to(torch.float32), Lr.to(torch.float32)


@contextlib.contextmanager
def float32_context(device: torch.device):
    """Autocast disabled on the CPU and on `device`: the metrics compute in float32 (or exact
    integers) whatever the caller's autocast state, e.g. inside a bf16-mixed trainer."""
    with contextlib.ExitStack() as stack:
        for kind in {"cpu", device.type}:
            stack.enter_context(torch.autocast(device_type=kind, enabled=False))
        yield


def in_float32(fn: F) -> F:
    """Decorator: run `fn` inside `float32_context` of its first argument's device."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = args[0] if args else next(iter(kwargs.values()))
        device = first.device if isinstance(first, Tensor) else torch.device("cpu")
        with float32_context(device):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
