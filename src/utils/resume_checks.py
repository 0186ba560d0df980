"""A resumed run is the run its checkpoint belongs to: the same resolved settings, or a refusal.

Resuming (``ckpt_path=<run>/checkpoints/last.ckpt``) with another value of a setting that
changes what is computed would make a run that is neither the old one nor the new one, and
results.json would record the new value as if it had held from the first epoch. Every
checkpoint the project writes carries ``run_settings`` (`run_settings`: the data, trainer and
checkpoint-selection values, resolved; the model's are its saved hyper-parameters), and a
resume compares both with the configuration given now (`check_same_settings`). What may change
is what cannot change the numbers: paths, loggers, workers and caching (as in results.json's
``settings``, `src.utils.run_setting.result_settings`), and ``trainer.max_epochs`` / ``max_steps``
(extending a run is the documented way to train on: README "Errors").
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from src.models.base import MODULE_CLASS_KEY, RUN_SETTINGS_KEY
from src.utils.checkpoints import check_same_method
from src.utils.errors import ConfigError
from src.utils.run_setting import result_settings

# trainer values that change what a run computes (the batches trained and validated, their
# split over processes, the arithmetic, the validation epochs that choose the best checkpoint)
TRAINER_KEYS = (
    "precision",
    "deterministic",
    "limit_train_batches",
    "limit_val_batches",
    "check_val_every_n_epoch",
    "val_check_interval",
    "devices",
    "num_nodes",
    "use_distributed_sampler",
    "accumulate_grad_batches",
    "gradient_clip_val",
)
CALLBACK_KEYS = ("callbacks.model_checkpoint.monitor", "callbacks.model_checkpoint.mode")
NOT_SET = "(not set)"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a config or hyper-parameter value (tuples as lists)."""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def run_settings(cfg: DictConfig) -> dict[str, Any]:
    """The resolved values of ``cfg`` beside the model's hyper-parameters that a resume must
    keep: ``seed``, the ``data.*`` values of results.json's settings, ``data.seed``,
    ``data.synthetic`` (which data a synthetic store holds), `TRAINER_KEYS` and
    `CALLBACK_KEYS` (those set). Keys are dotted config paths."""
    settings = {k: v for k, v in result_settings(cfg).items() if k.startswith("data.")}
    settings["seed"] = cfg.get("seed")
    for key in ("data.seed", "data.synthetic", *CALLBACK_KEYS):
        value = OmegaConf.select(cfg, key, default=NOT_SET)
        if value != NOT_SET:
            settings[key] = value
    trainer = cfg.get("trainer") or {}
    settings |= {f"trainer.{k}": trainer.get(k) for k in TRAINER_KEYS if k in trainer}
    return {key: _plain(value) for key, value in sorted(settings.items())}


def trained_hparams(model: torch.nn.Module, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's model hyper-parameters in today's terms: as saved, and -- for one
    written before an option existed -- the value the method's ``on_load_checkpoint`` gives
    that option when it rebuilds such a checkpoint (e.g. AGCH's ``loss_scale`` "tuned")."""
    saved = dict(checkpoint["hyper_parameters"])
    if set(getattr(model, "hparams", {})) <= set(saved):
        return saved
    try:
        rebuilt = type(model)(**saved)
    except (ConfigError, TypeError):
        return saved  # not rebuildable: the missing options count as not set
    rebuilt.on_load_checkpoint(checkpoint)
    return dict(rebuilt.hparams)


def setting_differences(
    trained: dict[str, Any], now: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint value, value now) for every key whose values differ; a key on one side
    only has `NOT_SET` on the other. Sorted by key."""
    differ = []
    for key in sorted(set(trained) | set(now)):
        old, new = _plain(trained.get(key, NOT_SET)), _plain(now.get(key, NOT_SET))
        if old != new:
            differ.append((key, old, new))
    return differ


def override_value(value: Any) -> str:
    """``value`` as a Hydra command-line override writes it (null, true, [1,5], 'a b')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return repr(text) if any(c in text for c in " ,=[]{}()'\"") else text


def restoring_override(key: str, old: Any, new: Any) -> str:
    """The command-line override that gives ``key`` its checkpoint value ``old`` again: a
    key the checkpoint's run did not set is removed (``~key``), one missing now is added."""
    if old == NOT_SET:
        return f"~{key}"
    return f"{'+' if new == NOT_SET else ''}{key}={override_value(old)}"


def flat(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``settings`` with every dict value expanded into dotted keys (``data.synthetic`` ->
    ``data.synthetic.image_dim``, ...), so that a difference names the key a user sets; an
    empty dict stays a value of its own key."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        value = _plain(value)
        if isinstance(value, dict) and value:
            out |= flat(value, f"{name}.")
        else:
            out[name] = value
    return out


RESUME = (
    "the settings its run was trained with",
    "resuming would make a run that is neither",
    "to go on with it, or start a new run without ckpt_path",
)
EVALUATE = (
    "the synthetic data it was trained on",
    "its numbers on other data would say nothing of it",
    "to evaluate it on its own data",
)


def _refuse(differ: list[tuple[str, Any, Any]], path: object, words: tuple[str, ...]) -> None:
    """Raise the ConfigError of a resume or evaluation whose settings differ from the
    checkpoint's run (``words``: `RESUME` or `EVALUATE`): every differing key with both
    values and the overrides that restore them (`restoring_override`)."""
    if not differ:
        return
    what, why, then = words
    pairs = "; ".join(f"{k}: {old!r} in the checkpoint, {new!r} now" for k, old, new in differ)
    restore = " ".join(restoring_override(k, old, new) for k, old, new in differ)
    raise ConfigError(
        f"ckpt_path: {path}: expected {what}, {len(differ)} differ ({pairs}): {why}; give "
        f"{restore} {then}"
    )


def check_same_run_settings(
    cfg: DictConfig,
    checkpoint: dict[str, Any],
    path: object,
    overrides: list[str] | None = None,
) -> None:
    """Refuse (ConfigError) a resume of another method (`check_same_method`, with every
    further override the trained method needs: `method_change_advice` of the command line's
    ``overrides``, by default Hydra's) or whose
    configuration differs from the checkpoint's model hyper-parameters (`model_differences`)
    or ``run_settings`` (`run_settings`, compared key by key after `flat`). It reads ``cfg``
    alone, so train.py calls it before any data is read or generated and before any file is
    written (a resume with other ``data.synthetic.*`` values generated a new store first; one
    with another code length reached the weights' shapes)."""
    if not cfg.get("train"):
        return
    built = OmegaConf.select(cfg, "model._target_", default=None)
    check_same_method(
        checkpoint.get(MODULE_CLASS_KEY),
        str(built),
        path,
        lambda choice: method_change_advice(choice, checkpoint, overrides),
    )
    _refuse(model_differences(cfg, checkpoint) + run_differences(cfg, checkpoint), path, RESUME)


def method_change_advice(
    choice: str, checkpoint: dict[str, Any], overrides: list[str] | None = None
) -> str:
    """The overrides besides ``model=<choice>`` that resume ``checkpoint`` in one step (sixth
    trial: ``model=agch`` was advised alone, and a second refusal named the model keys): the
    command line ``overrides`` (by default this Hydra run's) without its ``model`` choice and
    ``model.*`` keys, plus ``model=<choice>``, composed again; then every model and run
    setting in which that configuration differs from the checkpoint, as " k=v ..."; "" when
    it cannot be composed."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.utils.key_sources import command_line
    from src.utils.suggest import CONFIGS, script_name

    if overrides is None:
        overrides = command_line()
    kept = [o for o in overrides if o.lstrip("+~").partition("=")[0].split(".")[0] != "model"]
    try:
        if GlobalHydra.instance().is_initialized():  # inside the job: Hydra's own search path
            cfg = compose(script_name()[:-3], overrides=[*kept, f"model={choice}"])
        else:
            with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
                cfg = compose(script_name()[:-3], overrides=[*kept, f"model={choice}"])
    except Exception:  # noqa: BLE001  (the choice alone is still right)
        return ""
    differ = model_differences(cfg, checkpoint) + run_differences(cfg, checkpoint)
    return "".join(f" {restoring_override(k, old, new)}" for k, old, new in differ)


def model_differences(cfg: DictConfig, checkpoint: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """`setting_differences` of the checkpoint's saved hyper-parameters and ``cfg.model``'s
    resolved values, as ``model.<key>``, over the keys both hold (``_target_`` and the like
    aside; a key saved alone -- the feature widths, set by the data -- or configured alone --
    an option newer than the checkpoint -- is compared once the model is built:
    `check_same_settings`)."""
    saved = checkpoint.get("hyper_parameters")
    model = cfg.get("model")
    if not isinstance(saved, dict) or model is None:
        return []
    given = OmegaConf.to_container(model, resolve=True)
    shared = [k for k in given if not str(k).startswith("_") and k in saved]
    return setting_differences(
        {f"model.{k}": saved[k] for k in shared}, {f"model.{k}": given[k] for k in shared}
    )


def run_differences(cfg: DictConfig, checkpoint: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """`setting_differences` of the checkpoint's ``run_settings`` and ``cfg``'s, both `flat`;
    none when not training or when the checkpoint holds none (`read_checkpoint` refuses such
    a file)."""
    saved = checkpoint.get(RUN_SETTINGS_KEY)
    if not cfg.get("train") or not isinstance(saved, dict):
        return []
    return setting_differences(flat(saved), flat(run_settings(cfg)))


def check_same_data(cfg: DictConfig, checkpoint: dict[str, Any], path: object) -> None:
    """Refuse (ConfigError) to evaluate a checkpoint trained on a synthetic store on a
    synthetic store of other generator parameters (``data.synthetic.*``): other data, of other
    feature dimensions as often as not. Read from ``cfg`` alone, before eval.py generates or
    reads any store; a real data set is checked by its feature dimensions (`load_model`)."""
    saved = flat(checkpoint.get(RUN_SETTINGS_KEY) or {})
    now = flat({"data.synthetic": OmegaConf.select(cfg, "data.synthetic", default=None)})
    prefix = "data.synthetic."
    if not any(k.startswith(prefix) for k in saved) or not any(k.startswith(prefix) for k in now):
        return
    trained = {k: v for k, v in saved.items() if k.startswith(prefix)}
    given = {k: v for k, v in now.items() if k.startswith(prefix)}
    _refuse(setting_differences(trained, given), path, EVALUATE)


def check_same_settings(
    cfg: DictConfig, model: torch.nn.Module, checkpoint: dict[str, Any], path: object
) -> None:
    """Raise ConfigError when the configuration differs from the checkpoint's run: its model
    hyper-parameters (`trained_hparams`, as ``model.<key>``) against ``model``'s, built from
    ``cfg``; when training, also its `run_settings` (`run_differences`; train.py refuses
    those alone before any data is read, `check_same_run_settings`). One line names every
    differing key with both values and the overrides that resume the run as it was."""
    differ = setting_differences(
        {f"model.{k}": v for k, v in trained_hparams(model, checkpoint).items()},
        {f"model.{k}": v for k, v in dict(model.hparams).items()},
    )
    _refuse(differ + run_differences(cfg, checkpoint), path, RESUME)
