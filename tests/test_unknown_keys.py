"""An unknown key is refused with the keys of the presets chosen, and its advice is taken
(issue 22: under a chosen method, ``model.foo=1`` listed every method's keys together, the
refused key among them when another method has it, and advised ``+model.foo=...``, which the
door refused). Generated: for every method of configs/model, chosen by ``model=`` and by its
Wiki experiment, drawn unknown names, one-edit typos of its keys and keys only other methods
have, given as ``key=value``, ``+key=value`` and ``~key``; the keys a line lists are exactly the
method's (its composed ``model`` node, read here with Hydra's compose), a suggested key is
one of them, and any advice, applied, passes the door. The same for eval.py, for sweeps
(``-m model.<key>=1,2``) and for the Optuna search space. Fails on the previous code (every
method's keys were listed)."""

import copy
import functools
import random
import string
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from door import ROOT, door, sweep_door
from test_error_form import says_expected
from src.utils.composition_errors import composition_error

MODELS = sorted(p.stem for p in (ROOT / "configs" / "model").glob("*.yaml"))
SELECTORS = [("model={}",), ("experiment=wiki_{}_32bit",)]
OPTUNA = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("hydra_plugins.hydra_optuna_sweeper"),
    reason="hydra-optuna-sweeper is the optional [sweep] extra",
)


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    monkeypatch.setattr(sys, "argv", [str(ROOT / "src" / "train.py")])


def composed(script: str, words: list[str]) -> dict:
    """The configuration ``script`` composes with ``words``, by Hydra's compose alone."""
    return copy.deepcopy(_composed(script, tuple(words)))


@functools.lru_cache(maxsize=None)
def _composed(script: str, words: tuple[str, ...]) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(script, overrides=list(words))
    return OmegaConf.to_container(cfg, resolve=False)


def own_keys(node: dict) -> set[str]:
    """A node's keys as a refusal lists them (``_target_``-like ones aside)."""
    return {k for k in node if not k.startswith("_")}


def edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def drawn_names(keys: set[str], others: set[str], rng: random.Random) -> list[str]:
    """A made-up name, two one-edit typos of ``keys`` and a key only ``others`` have, none of
    them in ``keys``."""
    names = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))]
    for key in rng.sample(sorted(keys), 2):
        i = rng.randrange(len(key))
        names.append(key[:i] + rng.choice("aeiouxz") + key[i + 1 :])
    names += rng.sample(sorted(others - keys), min(1, len(others - keys)))
    return [n for n in names if n not in keys and n.isidentifier()]


def listed(line: str, under: str) -> set[str] | None:
    """The keys a line lists ``accepted under <under>: a, b; ...``, or None."""
    marker = f"accepted under {under}: "
    if marker not in line:
        return None
    return set(line.split(marker, 1)[1].split(";", 1)[0].split(", "))


def hydra_value(value: object) -> str:
    """``value`` written as a command-line override value."""
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(x) for x in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def dotted(tree: dict, key: str) -> tuple[bool, object]:
    """(present, value) of dotted ``key`` in ``tree``."""
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False, None
        tree = tree[part]
    return True, tree


def method_configs() -> dict[str, dict]:
    """Each method's composed model node."""
    return {m: composed("train", [f"model={m}"])["model"] for m in MODELS}


@pytest.mark.parametrize("method", MODELS)
@pytest.mark.parametrize("selector", SELECTORS, ids=["model", "experiment"])
def test_an_unknown_model_key_lists_the_chosen_methods_keys(method: str, selector) -> None:
    """Each drawn key in a drawn form: the line names it; a list is exactly the method's keys
    (never the refused key); a suggestion is one of them and, taken with the key's configured
    value, passes the door."""
    choice = selector[0].format(method)
    config = composed("train", [choice])
    keys = own_keys(config["model"])
    others = set().union(*(own_keys(c) for c in method_configs().values()))
    rng = random.Random(f"{method}{choice}")
    for name in drawn_names(keys, others, rng):
        form = rng.choice(["", "+", "~"])
        word = f"~model.{name}" if form == "~" else f"{form}model.{name}=1"
        line, _ = door([choice, word])
        assert line is not None and "\n" not in line and says_expected(line), (word, line)
        assert line.split(": ")[0 if form == "+" else 1] in (f"model.{name}", f"~model.{name}")
        shown = listed(line, "model")
        assert shown is None or shown == keys, (choice, word, shown ^ keys)
        assert "+model." not in line.split(": ", 2)[-1], (choice, word, line)  # none to add
        if "did you mean " in line:  # a key of the composed configuration, which passes
            meant = line.split("did you mean ", 1)[1].split("?")[0]
            present, value = dotted(config, meant)
            assert present and (meant.startswith("model.") is (meant[6:] in keys)), line
            assert door([choice, f"{meant}={hydra_value(value)}"])[0] is None, (word, meant)
        else:
            assert shown == keys, (choice, word, line)


@pytest.mark.parametrize(
    "key, value",
    [
        ("trainer.limit_train_batches", "1"),
        ("trainer.accumulate_grad_batches", "1"),
        ("trainer.detect_anomaly", "false"),
        ("trainer.limit_test_batches", "1.0"),
    ],
)
def test_an_argument_left_at_its_default_is_advised_with_plus(key: str, value: str) -> None:
    """An argument of the trainer that the configuration leaves out: ``+key=value`` is
    advised, and the advised command line passes the door; a typo of it suggests it."""
    line, _ = door([f"{key}={value}"])
    assert line is not None and f"expected +{key}={value} " in line, line
    assert door([f"+{key}={value}"])[0] is None
    typo = key[:-1]
    line, _ = door([f"{typo}={value}"])
    assert line is not None and f"did you mean {key}? (added with +{key}=" in line, line


def test_the_keys_the_run_sets_itself_are_refused_as_such() -> None:
    """``model.image_dim`` (the data's width) and ``trainer.callbacks`` (built by the script)
    are named as set by the run, in every form, never advised."""
    for word in ("model.image_dim=3", "+model.text_dim=3", "+trainer.callbacks=[]"):
        line, _ = door(["model=djsrh", word])
        assert line is not None and "set by the run itself" in line and "+" not in line[1:]


def test_eval_says_it_takes_no_model_key_and_what_it_accepts(monkeypatch) -> None:
    """eval.py: any ``model.*`` override is refused, listing exactly eval.py's keys."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / "src" / "eval.py")])
    keys = own_keys(composed("eval", []))
    for word in ("model.code_length=16", "model.eval_topk=10", "model.foo=1"):
        HydraConfig.instance().cfg = None
        try:
            composed("eval", [word])
        except Exception as exc:  # noqa: BLE001  (Hydra's composition error)
            line = composition_error(exc, [word])
        else:
            pytest.fail(f"eval.py composed {word}")
        assert "eval.py takes no model.* key" in line, line
        shown = set(line.split("(eval.py's keys: ", 1)[1].rstrip(")").split(", "))
        assert shown == keys, shown ^ keys


@pytest.mark.parametrize("method", ["djsrh", "cca_itq"])
def test_a_sweep_of_an_unknown_key_lists_the_methods_keys(method: str, tmp_path: Path) -> None:
    """``-m model=<method> model.<unknown>=1,2``: each job's line lists the method's keys."""
    keys = own_keys(composed("train", [f"model={method}"])["model"])
    status, lines = sweep_door([f"model={method}", "model.qqfoo=1,2"], tmp_path / "logs")
    assert status == 2 and len(lines) == 2, lines
    assert all(listed(line, "model") == keys for line in lines), lines
    assert not (tmp_path / "logs").exists()


@OPTUNA
def test_an_unknown_search_key_lists_the_methods_keys(tmp_path: Path) -> None:
    """``hparams_search=optuna``: an unknown key as a search-space entry
    (``hydra.sweeper.params.model.<key>``) or as a searched override is refused with the
    method's keys; a known one as an entry is advised the override form, which passes."""
    keys = own_keys(composed("train", ["experiment=wiki_agch_32bit"])["model"])
    search = ["hparams_search=optuna", "experiment=wiki_agch_32bit"]
    for value in ("'interval(0.1,1)'", "interval(0.1,1)"):
        line, _ = door([*search, f"hydra.sweeper.params.model.qqfoo={value}"])
        assert line.startswith("command line: hydra.sweeper.params.model.qqfoo: "), line
        assert listed(line, "model") == keys, line
    line, _ = door([*search, "hydra.sweeper.params.model.alpha=interval(0.2,1)"])
    assert line.endswith("'model.alpha=interval(0.2,1)'"), line
    logs = tmp_path / "logs"
    status, lines = sweep_door([*search, "data=synthetic", "model.alpha=interval(0.2,1)"], logs)
    assert status == 0, lines
    status, lines = sweep_door([*search, "data=synthetic", "model.qqfoo=interval(0.2,1)"], logs)
    assert status == 2 and lines and all(listed(x, "model") == keys for x in lines), lines
