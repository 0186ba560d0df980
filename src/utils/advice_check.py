"""Advice is checked before it is printed: a suggested override is put through the same door
as the command it mends (trial 9, faults 10 and 11: ``trainer.limit_train_batches=0`` was
answered "expected +trainer.limit_train_batches=0", then refused; ``trainer.num_nodes=2``
advised ``+trainer.num_nodes=2``, then refused under ``[trainer.devices]``).

`door_refusal` composes a command line in-process as the job would receive it (Hydra's run
config set to it) and runs the entry script's door (`src.utils.sweep_door.use_door`; else
`check_at_the_door`) and the checks of the store's split sizes, returning the first refusal.
Nothing is made; the run config Hydra had is put back.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any, Iterator

from omegaconf import open_dict, read_write


@contextmanager
def _kept_hydra_config() -> Iterator[None]:
    """Put Hydra's run config back as it was after the block."""
    from hydra.core.hydra_config import HydraConfig

    saved = HydraConfig.instance().cfg
    try:
        yield
    finally:
        HydraConfig.instance().cfg = saved


def _compose(name: str, words: list[str]) -> Any:
    """Entry config ``name`` composed with ``words``, Hydra's node included."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.utils.composed_keys import CONFIGS

    if GlobalHydra.instance().is_initialized():  # inside Hydra: its own search path
        return compose(name, overrides=words, return_hydra_config=True)
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose(name, overrides=words, return_hydra_config=True)


def door_refusal(words: Iterable[str], script: str = "train.py") -> str | None:
    """The one-line refusal ``script``'s door gives the command line ``words`` (its values,
    the machine, the store's split sizes), or None when it passes or cannot be composed (the
    advice then stands as the rules word it). Nothing is written."""
    from hydra.core.hydra_config import HydraConfig

    from src.utils.errors import user_error
    from src.utils.run_checks import check_at_the_door
    from src.utils.sweep_door import _DOOR, check_sizes, split_sizes

    with _kept_hydra_config():
        try:
            cfg = _compose(script[: -len(".py")], list(words))
            with open_dict(cfg):
                cfg.hydra.runtime.output_dir = "/nonexistent/advice-check"
                cfg.hydra.job.num = 0
            HydraConfig.instance().set_config(cfg)
            task = copy.deepcopy(cfg)
            with read_write(task), open_dict(task):
                del task["hydra"]
        except Exception:  # noqa: BLE001  a composition error: not this check's to word
            return None
        try:
            for door in _DOOR or [check_at_the_door]:
                door(task)
            sizes = split_sizes(task)
            if sizes is not None:
                check_sizes(task, sizes)
        except Exception as exc:  # noqa: BLE001  a bug keeps the advice as it was
            error = user_error(exc)
            return " ".join(str(error).split()) if error is not None else None
    return None


def followed(words: Iterable[str], key: str, advised: str) -> list[str]:
    """``words`` with the override(s) of ``key`` replaced by the ``advised`` one."""
    kept = [w for w in words if w.lstrip("+~").split("=", 1)[0] != key]
    return [*kept, advised]
