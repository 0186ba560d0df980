"""Which data a checkpoint was trained on, told at eval.py's door: a checkpoint of synthetic
data given a real store (or the reverse) is refused with what it was trained on and the
``data=`` choice that evaluates it, in one step (not "choose data=uci" and then a feature
dimension refusal). Read from the checkpoint's own records (``run_settings``,
``datamodule_hyper_parameters``); a store is only opened to read its ``dataset`` name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.models.base import RUN_SETTINGS_KEY
from src.utils.errors import ConfigError, DataError

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


def _store_dataset(path: object) -> str | None:
    """The ``dataset`` attribute of the store at ``path``, or None when it is not a readable
    store (the later checks say what is wrong with it)."""
    from src.data.store import validate_store

    try:
        return str(validate_store(str(path), check_values=False).attrs.get("dataset"))
    except (DataError, OSError, TypeError, ValueError):
        return None


def trained_store(checkpoint: dict[str, Any]) -> str | None:
    """The store path the checkpoint's datamodule read (None when not recorded)."""
    saved = checkpoint.get("datamodule_hyper_parameters")
    path = saved.get("path") if isinstance(saved, dict) else None
    return str(path) if isinstance(path, str) and path else None


def trained_synthetic(checkpoint: dict[str, Any]) -> bool | None:
    """True when the checkpoint was trained on synthetic data, False on a real store, None
    when its run settings do not say (a checkpoint written before they were recorded)."""
    saved = checkpoint.get(RUN_SETTINGS_KEY)
    if not isinstance(saved, dict) or "data.synthetic" not in saved:
        return None
    return isinstance(saved["data.synthetic"], dict)


def data_choice(dataset: str | None) -> str:
    """``data=<name>`` when configs/data/<name>.yaml exists, else a description."""
    if dataset and (CONFIGS / f"{dataset}.yaml").is_file():
        return f"data={dataset}"
    return f"the data= config of the {dataset!r} store" if dataset else "its store's data= config"


def trained_words(checkpoint: dict[str, Any]) -> str:
    """ "synthetic data (data=synthetic)" or "the 'uci' store <path> (data=uci)": what the
    checkpoint was trained on, for a message; "" when the checkpoint does not record it."""
    synthetic = trained_synthetic(checkpoint)
    if synthetic:
        return "synthetic data (data=synthetic)"
    store = trained_store(checkpoint)
    if synthetic is None or store is None:
        return ""
    dataset = _trained_dataset(checkpoint)
    return f"the {dataset!r} store {store} ({data_choice(dataset)})"


def _configured_store(cfg: DictConfig) -> tuple[str | None, str | None]:
    """(data.path, the dataset its store holds) of ``cfg``; (path, None) when the path is no
    readable store, (None, None) when data.path is not set."""
    path = OmegaConf.select(cfg, "data.path", default=None)
    if not path or not Path(str(path)).is_file():
        return (str(path) if path else None), None
    return str(path), _store_dataset(path)


def check_trained_data(cfg: DictConfig, checkpoint: dict[str, Any], ckpt: object) -> None:
    """Refuse (ConfigError naming ``ckpt_path``) to evaluate or resume a checkpoint on other
    data than it was trained on, when its records say so before any data is read: synthetic
    data against a real store (either way), or a store of another dataset (unless
    ``eval_other_store``). The line says what it was trained on and which ``data=`` fits. A
    checkpoint that does not record its data passes (its feature dimensions and store digest
    are checked later, `load_model`, `check_same_store`)."""
    synthetic = trained_synthetic(checkpoint)
    if synthetic is None:
        return
    configured = OmegaConf.select(cfg, "data.synthetic", default=None) is not None
    path, dataset = _configured_store(cfg)
    if synthetic and (not configured or dataset not in (None, "synthetic")):
        given = f"the {dataset!r} store {path}" if dataset else "real data"
        raise ConfigError(
            f"ckpt_path: {ckpt}: trained on synthetic data, given {given}: "
            "expected data=synthetic with data.path unset (the run reads or makes the "
            "synthetic store of the generator settings it was trained on)"
        )
    if not synthetic and configured:
        words = trained_words(checkpoint) or "a real store"
        raise ConfigError(
            f"ckpt_path: {ckpt}: trained on {words}, given synthetic data: "
            f"expected {data_choice(_trained_dataset(checkpoint))}"
        )
    if not synthetic and dataset and not cfg.get("eval_other_store"):
        _check_same_dataset(checkpoint, ckpt, path, dataset)


def _check_same_dataset(
    checkpoint: dict[str, Any], ckpt: object, path: object, dataset: str
) -> None:
    """ConfigError when the store the checkpoint trained on (read, not guessed from its
    name) holds another dataset than the configured store ``path``."""
    store = trained_store(checkpoint)
    trained = _store_dataset(store) if store else None
    if trained is None or trained == dataset:
        return
    raise ConfigError(
        f"ckpt_path: {ckpt}: trained on the {trained!r} store {store}, given the {dataset!r} "
        f"store {path}: expected {data_choice(trained)}"
    )


def _trained_dataset(checkpoint: dict[str, Any]) -> str | None:
    """The dataset name of the store the checkpoint read (its file's stem when unreadable)."""
    store = trained_store(checkpoint)
    return (_store_dataset(store) or Path(store).stem) if store else None


def explain_by_checkpoint(cfg: DictConfig) -> None:
    """`check_trained_data` for the checkpoint ``ckpt_path`` of ``cfg`` (eval.py's, or a
    resume's) when its store was refused at the door: a checkpoint of synthetic data given a
    real store is told "trained on synthetic data", not "choose data=uci" (which ends in a
    feature dimension refusal). Nothing when no checkpoint is given or it cannot be read
    (the store's refusal stands)."""
    from src.utils.checkpoints import read_checkpoint
    from src.utils.errors import AGCHError

    ckpt = OmegaConf.select(cfg, "ckpt_path", default=None)
    if not isinstance(ckpt, str) or not ckpt:
        return
    try:
        saved = read_checkpoint(ckpt)
    except AGCHError:
        return
    check_trained_data(cfg, saved, ckpt)
