"""A run's memory need checked at the door, before anything is allocated (trial 12 H5:
``model.hidden_dim=100000000`` was an 82-line "can't allocate memory" traceback, and 2000000
grew for 150 s until the kernel killed it).

The model is built on torch's "meta" device (shapes only, no memory) with the run's feature
dimensions; its parameters and buffers, the gradients of the trainable ones, the states its own
``configure_optimizers`` keeps (SGD with momentum 1 a parameter, Adam 2) and what a closed-form
fit holds (`working_elements`) are counted at the bytes of ``trainer.precision``, and compared
with the memory available (the GPU's free memory on a GPU accelerator, else MemAvailable).
A method joins by declaring its ``SIZE_KEYS`` (src/models/base.py); nothing here is per method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError

GIB = 2**30
SHARE = 0.1  # a key is named when setting it to 1 would remove this share of the need
SYNTHETIC_DIMS = {"image_dim": "data.synthetic.image_dim", "text_dim": "data.synthetic.text_dim"}


class Need(NamedTuple):
    """Bytes a run's model needs, and its parameters (elements) for the message."""

    bytes: int
    parameters: int


def element_bytes(precision: Any) -> int:
    """Bytes of a weight under ``trainer.precision``: 8 for 64-bit, 2 for a 16-bit "true"
    precision, else 4 (mixed precision keeps float32 weights)."""
    text = str(precision)
    if text.startswith("64"):
        return 8
    return 2 if text.endswith("-true") and "16" in text else 4


def optimiser_states(optimizers: Any) -> int:
    """Elements the optimisers keep per their parameters: SGD with momentum 1 each, Adam and
    AdamW 2 (3 with amsgrad), another optimiser 2; a closed-form model's None: 0."""
    if optimizers is None:
        return 0
    if isinstance(optimizers, Mapping):
        optimizers = optimizers.get("optimizer")
    found = optimizers if isinstance(optimizers, (list, tuple)) else [optimizers]
    total = 0
    for opt in found:
        for group in getattr(opt, "param_groups", ()):
            if isinstance(opt, torch.optim.SGD):
                states = 1 if group.get("momentum", 0) else 0
            elif isinstance(opt, (torch.optim.Adam, torch.optim.AdamW)):
                states = 3 if group.get("amsgrad") else 2
            else:
                states = 2
            total += states * sum(p.numel() for p in group["params"])
    return total


def model_need(cls: type, hp: Mapping[str, Any], precision: Any) -> Need:
    """`Need` of method ``cls`` with hyper-parameters ``hp`` (feature dimensions included),
    built on the meta device: weights and buffers, a gradient per trainable weight, the
    optimisers' states, and its closed-form fit's float64 elements (`working_elements`)."""
    with torch.device("meta"):
        model = cls(**hp)
        try:
            states = optimiser_states(model.configure_optimizers())
        except Exception:  # noqa: BLE001  an optimiser that needs a trainer: Adam's 2
            states = 2 * sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    size = element_bytes(precision)
    work = 8 * model.working_elements(hp)
    return Need((weights + trainable + states) * size + work, weights)


def available_memory(trainer: Mapping[str, Any]) -> tuple[int, str]:
    """(bytes, where) the run may use: the free memory of the first GPU on a GPU accelerator
    (or "auto" with one), else the machine's MemAvailable (the free pages without
    /proc/meminfo)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto")
    if on_gpu and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info()[0]), "this machine's GPU has"
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "this machine has"
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages), "this machine has"


def feature_dims(cfg: DictConfig) -> tuple[dict[str, int], dict[str, str]] | None:
    """({"image_dim", "text_dim"}, the keys that set them) of the run's data: a synthetic
    store's parameters (``data.synthetic.*``), else the header of the store at ``data.path``;
    None while there is no readable store (its own check refuses that)."""
    from src.data.store import validate_store

    synthetic = OmegaConf.select(cfg, "data.synthetic", default=None)
    if isinstance(synthetic, DictConfig):
        dims = {name: int(synthetic[name]) for name in SYNTHETIC_DIMS}
        return dims, dict(SYNTHETIC_DIMS)
    path = OmegaConf.select(cfg, "data.path", default=None)
    try:
        info = validate_store(str(path), check_values=False)
    except Exception:  # noqa: BLE001  no store yet, or one the store checks refuse
        return None
    return {"image_dim": info.image_dim, "text_dim": info.text_dim}, {}


def _gib(value: float) -> str:
    """``value`` bytes in GiB, as a short number."""
    gib = value / GIB
    return f"{gib:,.0f}" if gib >= 10 else f"{gib:.1f}"


def model_setting(cfg: DictConfig) -> tuple[type, dict[str, Any]] | None:
    """(the method's class, its hyper-parameters with the run's feature dimensions), or None
    without a model or a readable store (their own checks refuse those)."""
    from hydra.utils import get_class

    node = OmegaConf.select(cfg, "model", default=None)
    dims = feature_dims(cfg) if isinstance(node, DictConfig) else None
    if dims is None:
        return None
    model = OmegaConf.to_container(node, resolve=True)
    hp = {k: v for k, v in model.items() if not str(k).startswith("_")}
    return get_class(str(model["_target_"])), hp | dims[0]


def size_keys(cls: type, cfg: DictConfig) -> dict[str, str]:
    """The run's keys that size its model, by hyper-parameter: the method's declared
    ``SIZE_KEYS`` (``model.<key>``) and a synthetic store's feature dimensions."""
    keys = {name: f"model.{name}" for name in cls.SIZE_KEYS}
    dims = feature_dims(cfg)
    return keys | (dims[1] if dims else {})


def named_keys(cls: type, hp: dict[str, Any], cfg: DictConfig, need: Need) -> list[str]:
    """The keys to name for ``need``: those the user gave (`given_key`) whose value set to 1
    would remove at least `SHARE` of it; else the key that makes most of it."""
    from src.utils.key_sources import command_line, given_here, given_key

    words = command_line(cfg)
    precision = OmegaConf.select(cfg, "trainer.precision", default="32-true")
    shares = {}
    for name, key in size_keys(cls, cfg).items():
        smaller = model_need(cls, hp | {name: 1}, precision).bytes
        shares[key] = 1 - smaller / need.bytes
    given = [given_key(cfg, key, words) for key in shares]
    named = [
        source
        for key, source in zip(shares, given)
        if given_here(source, words) and shares[key] >= SHARE
    ]
    return named or [max(shares, key=shares.__getitem__)]


def check_memory(cfg: DictConfig) -> None:
    """Refuse (ConfigError naming the keys the user set, `named_keys`) a run whose model,
    gradients and optimiser states (`model_need`) do not fit in the memory available
    (`available_memory`), before anything is allocated."""
    setting = model_setting(cfg)
    if setting is None:
        return
    cls, hp = setting
    precision = OmegaConf.select(cfg, "trainer.precision", default="32-true")
    need = model_need(cls, hp, precision)
    available, where = available_memory(OmegaConf.select(cfg, "trainer", default={}) or {})
    if need.bytes <= available:
        return
    keys = named_keys(cls, hp, cfg, need)
    values = ", ".join(str(OmegaConf.select(cfg, key)) for key in keys)
    declared = [f"model.{name}" for name in cls.SIZE_KEYS]
    expected = " / ".join(declared + [key for key in keys if key not in declared])
    raise ConfigError(
        f"{', '.join(keys)}: {values} ({cls.method_name or cls.__name__} with "
        f"{hp['image_dim']} image and {hp['text_dim']} text features) needs about "
        f"{_gib(need.bytes)} GiB for its parameters, gradients and optimiser states "
        f"({need.parameters:,} parameters of {element_bytes(precision)} bytes); {where} "
        f"{_gib(available)} GiB available; expected a smaller {expected}"
    )
