"""Advice taken literally (fifth trial: eval.py advised ``model.code_length``, which eval.py
refuses; a resume with another code length reported tensor shapes). For each refusal that
advises an override, generated cases: the override is parsed from the message with Hydra's
own grammar, applied, and the corrected configuration passes that refusal; a refusal that no
override can cure (a checkpoint contradicting itself) advises none."""

from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from checkpoint_files import as_written
from door import door
from src.eval import METHODS, load_model
from src.models.base import MODULE_CLASS_KEY, RUN_SETTINGS_KEY
from src.utils.checkpoints import model_choice
from src.utils.config_groups import LIST_GROUPS, entry_default
from src.utils.errors import ConfigError
from src.utils.resume_checks import check_same_run_settings, run_settings
from test_deleted_keys import ROOT, SMALL, composed, project_root  # noqa: F401  (a fixture)

MODELS = sorted(p.stem for p in (ROOT / "configs" / "model").glob("*.yaml"))
DIMS = dict(image_dim=64, text_dim=32)


def advised(message: str) -> list[tuple[str, object]]:
    """(key, value) of each override a RESUME refusal gives ("give <overrides> to go on"),
    parsed as Hydra parses a command line."""
    words = message.split("; give ", 1)[1].split(" to go on")[0]
    parsed = OverridesParser.create().parse_overrides(words.split(" "))
    return [(o.key_or_group, o.value()) for o in parsed]


def checkpoint_of(cfg: DictConfig) -> dict:
    """The records a checkpoint of ``cfg``'s model holds for the pre-check: its saved
    hyper-parameters (as the model saves them) and its class."""
    model = hydra.utils.instantiate(cfg.model, **DIMS)
    cls = type(model)
    return {
        "hyper_parameters": dict(model.hparams),
        MODULE_CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}",
    }


def changed(value: object, rng: np.random.Generator) -> object | None:
    """Another value of the same type (None for a type not changed here)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + int(rng.integers(1, 5))
    if isinstance(value, float):
        return round(value * 2 + 0.25, 4)
    return None


@pytest.mark.parametrize("method", MODELS)
def test_a_resume_with_other_model_settings_names_them_before_any_data(method: str) -> None:
    """Every method: the checkpoint of the configured model passes; 1-3 generated changed
    ``model.*`` values are refused from the configuration alone, naming each key with both
    values; the advised overrides, applied as parsed, pass (the previous code let them reach
    the weights' shapes, or trained on with a silently changed setting)."""
    cfg = composed([f"model={method}", *SMALL])
    checkpoint = checkpoint_of(cfg)
    check_same_run_settings(cfg, checkpoint, "x.ckpt")
    rng = np.random.default_rng(len(method))
    given = OmegaConf.to_container(cfg.model, resolve=True)
    keys = [k for k, v in given.items() if not k.startswith("_") and changed(v, rng) is not None]
    assert "code_length" in keys
    for _ in range(6):
        chosen = list(rng.choice(keys, int(rng.integers(1, min(3, len(keys)) + 1)), False))
        now = cfg.copy()
        for key in chosen:
            now.model[key] = changed(given[key], rng)
        with pytest.raises(ConfigError) as error:
            check_same_run_settings(now, checkpoint, "x.ckpt")
        message = str(error.value)
        for key in chosen:
            pair = f"model.{key}: {given[key]!r} in the checkpoint, {now.model[key]!r} now"
            assert pair in message, message
        for key, value in advised(message):
            OmegaConf.update(now, key, value)
        check_same_run_settings(now, checkpoint, "x.ckpt")


def test_a_resume_of_another_method_names_the_model_choice() -> None:
    """A checkpoint of each method resumed under each other one: the line advises
    ``model=<name>``, and that choice passes the method check."""
    built = {m: composed([f"model={m}", *SMALL]) for m in MODELS}
    for trained in MODELS:
        checkpoint = checkpoint_of(built[trained])
        for other in (m for m in MODELS if m != trained):
            with pytest.raises(ConfigError) as error:
                check_same_run_settings(built[other], checkpoint, "x.ckpt")
            assert f"give model={trained} " in f"{error.value} ", str(error.value)
        check_same_run_settings(built[trained], checkpoint, "x.ckpt")
    assert model_choice("src.models.nope.Nope") is None


def self_contradicting(path: Path, cls: type, key: str) -> Path:
    """A checkpoint as train.py writes one whose saved ``key`` was then doubled (its digest
    recomputed, so only the weights' check can tell)."""
    model = cls(12, 10, code_length=8, eval_ks=[1])
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams) | {key: 2 * model.hparams[key]},
        MODULE_CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}",
        "optimizer_states": [],
        "epoch": 0,
    }
    torch.save(as_written(checkpoint), path)
    return path


@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_eval_of_a_self_contradicting_checkpoint_advises_no_override(tmp_path, cls) -> None:
    """eval.py builds the model from the checkpoint's hyper-parameters and refuses every
    ``model.*`` override, so when the weights contradict them (code length edited) the line
    says so and advises no override (it advised ``model.code_length``)."""
    path = self_contradicting(tmp_path / "edited.ckpt", cls, "code_length")
    with pytest.raises(ConfigError) as error:
        load_model(str(path), 12, 10)
    message = str(error.value)
    assert "contradict" in message and "expected" in message, message
    assert "model." not in message and "=" not in message.split("; expected", 1)[1], message


def test_weights_of_other_configured_sizes_advise_the_trained_ones() -> None:
    """train.py (a model built from the configuration): weights of other sizes advise the
    checkpoint's values of exactly the differing keys; building with them fits."""
    from src.models.agch_module import AGCHModule
    from src.utils.checkpoints import check_weights_fit

    rng = np.random.default_rng(5)
    base = dict(code_length=8, hidden_dim=16, gcn_dim=8, eval_ks=[1])
    for _ in range(8):
        trained = {k: int(rng.choice([4, 8, 16])) for k in ("code_length", "hidden_dim")}
        model = AGCHModule(12, 10, **base | trained)
        saved = dict(model.hparams)
        configured = AGCHModule(12, 10, **base)
        if dict(configured.hparams) == saved:
            continue
        with pytest.raises(ConfigError) as error:
            check_weights_fit(configured, model.state_dict(), "x.ckpt", saved)
        fixed = dict(base)
        for word in str(error.value).split("give ", 1)[1].split():
            key, value = word.split("=")
            with open_dict(cfg := OmegaConf.create({"model": fixed})):
                OmegaConf.update(cfg, key, int(value))
            fixed = OmegaConf.to_container(cfg.model)
        check_weights_fit(AGCHModule(12, 10, **fixed), model.state_dict(), "x.ckpt", saved)


def resume_after_method_change(trained: str, other: str, rng: np.random.Generator) -> None:
    """A checkpoint of ``trained`` with 1-2 generated model values (and its run settings),
    resumed under ``model=other``: one refusal whose advice, taken literally in place of the
    model choice, passes the check in one step (it advised ``model=<trained>`` alone, and a
    second refusal named the model keys)."""
    base = composed([f"model={trained}", *SMALL])
    given = OmegaConf.to_container(base.model, resolve=True)
    keys = [k for k, v in given.items() if not k.startswith("_") and changed(v, rng) is not None]
    chosen = list(rng.choice(keys, int(rng.integers(1, 3)), replace=False))
    words = [f"model.{k}={changed(given[k], rng)}" for k in chosen]
    cfg = composed([f"model={trained}", *SMALL, *words])
    try:
        checkpoint = checkpoint_of(cfg)
    except Exception:  # noqa: BLE001  (a generated value its method refuses: code_length)
        cfg = composed(
            [f"model={trained}", *SMALL, f"model.code_length={given['code_length'] * 2}"]
        )
        checkpoint = checkpoint_of(cfg)
    checkpoint[RUN_SETTINGS_KEY] = run_settings(cfg)
    with pytest.raises(ConfigError) as error:
        now = composed([f"model={other}", *SMALL])
        check_same_run_settings(now, checkpoint, "x.ckpt", [f"model={other}", *SMALL])
    message = str(error.value)
    advice = message.split("give ", 1)[1].split(" to go on")[0].split(" ")
    assert advice[0] == f"model={trained}", message
    fixed = composed([*SMALL, *advice])
    check_same_run_settings(fixed, checkpoint, "x.ckpt", [*SMALL, *advice])


def test_a_resume_under_another_method_is_advised_in_one_step() -> None:
    """Each method's checkpoint resumed under another one (generated pairs and keys)."""
    rng = np.random.default_rng(7)
    for trained in MODELS:
        other = str(rng.choice([m for m in MODELS if m != trained]))
        resume_after_method_change(trained, other, rng)


@pytest.mark.slow
def test_every_pair_of_methods_is_advised_in_one_step() -> None:
    """As above, every ordered pair of methods."""
    rng = np.random.default_rng(8)
    for trained in MODELS:
        for other in (m for m in MODELS if m != trained):
            resume_after_method_change(trained, other, rng)


@pytest.mark.parametrize("group", LIST_GROUPS)
def test_adding_a_callback_or_logger_is_advised_keeping_the_defaults(group: str) -> None:
    """``+<group>=<option>`` (callbacks, logger: groups of entries) is refused advising a
    list; the advice taken literally passes and keeps every entry of the default beside the
    option's (it advised ``callbacks=lr_monitor``, which dropped the checkpoints)."""
    default, _ = door([])
    assert default is None
    kept = set(composed([]).get(group) or {})
    options = sorted(p.stem for p in (ROOT / "configs" / group).glob("*.yaml"))
    rng = np.random.default_rng(len(group))
    others = [o for o in options if o not in ("none", entry_default(group))]
    for option in rng.choice(others, min(2, len(others)), False):
        line, _ = door([f"+{group}={option}"])
        advice = line.split("expected ", 1)[1].split(" ")[0]
        assert advice.startswith(f"{group}=["), line
        refused, cfg = door([advice])
        assert refused is None, (advice, refused)
        own = set(composed([f"{group}={option}"]).get(group) or {})
        assert kept | own <= set(cfg.get(group) or {}), (advice, kept, own)
