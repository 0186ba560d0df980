"""Messages that say where a value came from and the values they compare (trial 28 c05: "too
small for the preset" of a value set on the command line; c09: "n_query + n_train + n_val
exceeds n_items" without the numbers; s09: a dangling --source link called "not found")."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from src.data.converters import _source_dir
from src.data.synthetic import check_params
from src.utils.composition_errors import composition_error
from src.utils.errors import ConfigError, DataError
from src.utils.metric_names import check_metric_names
from src.utils.run_checks import check_evaluates_something, value_source
from src.utils.run_dirs import register_resolvers
from test_deleted_keys import ROOT, SMALL, composed, leaves, project_root  # noqa: F401

SIZES = {"val_query": 1, "val_retrieval": 1, "query": 1, "retrieval": 1, "train": 200}


@pytest.mark.parametrize(
    "overrides, key, source, refused",
    [
        (["+trainer.overfit_batches=0.5"], "trainer.overfit_batches", "set on the command", 1),
        (
            ["++trainer.limit_val_batches=0.3"],
            "trainer.limit_val_batches",
            "set on the command",
            1,
        ),
        (["debug=limit"], "trainer.limit_val_batches", "set by the debug=limit preset", 1),
        (["debug=overfit"], "trainer.overfit_batches", "set by the debug=overfit preset", 0),
        ([], "trainer.min_epochs", "from the configuration", 0),
    ],
)
def test_value_source_names_the_override_or_the_preset(overrides, key, source, refused) -> None:
    """The source named for a value set on the command line, by a preset, or by neither; the
    0-batch evaluation refusal of a fraction carries it (never "the preset" for an
    override)."""
    cfg = composed([*SMALL, *overrides])
    assert value_source(key).startswith(source)
    if refused:
        with pytest.raises(ConfigError, match=rf"^{key}: [\d.]+ \({source}"):
            check_evaluates_something(cfg, SIZES, ("val",))


def test_value_source_without_hydra() -> None:
    assert value_source("trainer.overfit_batches") == "from the configuration"


def test_synthetic_sizes_give_the_values() -> None:
    """200 generated split sizes: refused exactly when they exceed n_items, with the sum
    written out and what is expected."""
    rng = np.random.default_rng(9)
    for _ in range(200):
        n_items, q, t, v = (int(x) for x in rng.integers([10, 1, 2, 0], [500, 300, 300, 100]))
        params = dict(n_items=n_items, n_query=q, n_train=t, n_val=v, n_classes=2)
        if q + t + v > n_items:
            sum_ = rf"{q} \+ {t} \+ {v} = {q + t + v} > n_items {n_items}; expected at most"
            with pytest.raises(ConfigError, match=rf"^data\.synthetic: .* = {sum_}"):
                check_params(params)
        else:
            check_params(params)
    with pytest.raises(ConfigError, match=r"^data\.synthetic\.n_classes: 11 > n_items 10;"):
        check_params(dict(n_items=10, n_query=1, n_train=2, n_val=0, n_classes=11))


def test_source_folder_says_what_it_found(tmp_path: Path) -> None:
    """--source: a dangling link, a missing path and a file are each named as what they are,
    with what --source expects."""
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    (tmp_path / "a_file").write_text("x")
    for name, found in [
        ("dangling", "a link to a missing path"),
        ("missing", "nothing there"),
        ("a_file", "found a file"),
    ]:
        with pytest.raises(
            DataError, match=rf"expected the release's folder \(--source DIR.*{found}"
        ):
            _source_dir(tmp_path / name)
    assert _source_dir(tmp_path) == tmp_path


# ---- advice taken literally (fifth trial: advice that the same door refuses or ignores) ----

GROUPS = ("data", "model", "callbacks", "logger", "trainer", "paths", "extras")
GROUPS += ("experiment", "hparams_search", "debug")  # null by default, in the defaults list
ADVICE = re.compile(r"expected (\S+=\S+) \((?:without the \+|\S+ alone would drop the others)\)")


def composition_line(overrides: list[str]) -> str | None:
    """`composition_error`'s line for train.yaml composed with ``overrides`` as train.py
    composes it (Hydra's own config included), or None when it composes."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            compose("train", overrides=[*overrides, "~local"], return_hydra_config=True)
    except Exception as exc:  # Hydra raises several types
        return composition_error(exc, overrides)
    finally:
        GlobalHydra.instance().clear()
    return None


@pytest.mark.parametrize("group", GROUPS)
def test_a_group_added_with_plus_says_what_to_type(group: str) -> None:
    """``+group=NAME`` of a group of the defaults list (trial h05: Hydra's hint ``override
    experiment: NAME`` does not lex): the line gives an override that composes as typed."""
    register_resolvers()
    name = sorted(p.stem for p in (ROOT / "configs" / group).glob("*.yaml"))[-1]
    line = composition_line([f"+{group}={name}"])
    assert line is not None and "override " not in line, line
    advice = ADVICE.search(line)
    default = train_default(group)
    if group in ("callbacks", "logger") and default not in (None, name):
        expected = f"{group}=[{default},{name}]"  # a list group: the defaults are kept
    else:
        expected = f"{group}={name}"
    assert advice and advice[1] == expected, line
    assert composition_line([advice[1]]) is None


def train_default(group: str) -> str | None:
    """``group``'s option in configs/train.yaml's defaults list, read with PyYAML."""
    tree = yaml.safe_load((ROOT / "configs" / "train.yaml").read_text())
    for item in tree["defaults"]:
        if isinstance(item, dict) and group in item:
            return item[group]
    return None


def hydra_leaves() -> list[str]:
    """Dotted keys of Hydra's own settings that hold a string value (run/sweep folders, job
    and output settings), from the composed configuration."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["~local"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    tree = OmegaConf.to_container(cfg.hydra, resolve=False)
    found = [f"hydra.{key}" for key in leaves(tree) if isinstance(select(tree, key), str)]
    found = [key for key in found if "overrides" not in key and "runtime" not in key]
    return [key for key in found if re.fullmatch(r"[\w.]+", key)]  # keys an override can name


def select(tree: dict, key: str) -> object:
    for part in key.split("."):
        tree = tree[part]
    return tree


def test_deleting_hydra_settings_says_what_is_expected() -> None:
    """``~hydra.<key>`` of every string setting of Hydra's (trial d04: ``~hydra.run.dir`` gave
    "Error merging override"): composes, or one line naming the key with what is expected;
    where it gives ``key=VALUE``, the key with its configured value composes."""
    register_resolvers()
    keys = hydra_leaves()
    assert "hydra.run.dir" in keys and "hydra.sweep.dir" in keys
    refused = 0
    for key in keys:
        line = composition_line([f"~{key}"])
        if line is None:
            continue
        refused += 1
        assert line.startswith(f"command line: ~{key}: ") and "expected" in line, line
        if f"({key}=VALUE)" in line:
            GlobalHydra.instance().clear()
            with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
                value = compose("train", ["~local"], return_hydra_config=True)
                value = OmegaConf.select(value, key)
            GlobalHydra.instance().clear()
            assert composition_line([f"{key}={value!r}"]) is None, key
    assert refused >= 2


def test_a_run_that_never_validates_names_every_metric_key_at_once() -> None:
    """Generated monitor sets of a run that never validates (trial c12/c14: the refusal named
    optimized_metric, then, once set to null, the checkpoint monitor): one line names every
    key, and its ``set k=null ...`` taken literally passes the check."""
    rng = np.random.default_rng(30)
    model = type("Model", (), {"val_metric": object()})()
    keys = ["optimized_metric", *(f"callbacks.{n}.monitor" for n in ("a", "b", "c"))]
    for _ in range(40):
        chosen = [k for k in keys if rng.random() < 0.6] or [keys[0]]
        never = {"limit_val_batches": 0} if rng.random() < 0.5 else {"check_val_every_n_epoch": 3}
        cfg = OmegaConf.create({"train": True, "trainer": {"max_epochs": 2, **never}})
        cfg.callbacks = {n: {"_target_": "x.Y"} for n in ("a", "b", "c")}
        for key in chosen:
            OmegaConf.update(cfg, key, "val/objective", force_add=True)
        with pytest.raises(ConfigError) as error:
            check_metric_names(cfg, model, {"val_retrieval": 10})
        message = str(error.value)
        assert message.startswith(f"{chosen[0]}: ") and "expected" in message, message
        advice = message.rsplit(": set ", 1)[1].split()
        assert sorted(advice) == sorted(f"{k}=null" for k in chosen), message
        for override in advice:
            key, value = override.split("=")
            OmegaConf.update(cfg, key, None if value == "null" else value)
        check_metric_names(cfg, model, {"val_retrieval": 10})
