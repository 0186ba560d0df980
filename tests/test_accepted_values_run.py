"""Every value a rule accepts runs, and eval.py gets train.py's checks (issue 22, third trial):
boundary values of the data keys and the seed either refused in one line or consumed by the
code that reads them; the validation sets' cross-key bounds; ``~key`` of a key the run reads;
the same lines from both entry points; refusals that name the script that was run."""

import copy
import json
import sys
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from config_snapshot import SNAPSHOT
from test_config_rules import CANDIDATES, oracle

from src.utils.added_keys import REQUIRED_NODES, check_added_key, check_deleted_key, deleted_keys
from src.utils.config_rules import RULES
from src.utils.errors import ConfigError
from src.utils.composition_errors import composition_error
from src.utils.run_checks import check_at_the_door, check_run

RECORDED = json.loads(SNAPSHOT.read_text())
TRAIN, EVAL = RECORDED["train"]["composed"], RECORDED["eval"]["composed"]
TRIAL_KEYS = ("seed", "data.seed", "data.val_retrieval_limit", "data.batch_size")


def boundaries(rule) -> list:
    """The smallest accepted values (and the next), the largest when bounded, null where
    accepted, each choice and each further allowed value."""
    values: list = []
    if rule.kind in ("int", "real") and rule.low is not None:
        values += [rule.low, rule.low + 1]
    if rule.kind in ("int", "real") and rule.high is not None:
        values.append(rule.high)
    values += [True, False] if rule.kind == "bool" else []
    values += list(rule.choices) + list(rule.also) + ([None] if rule.nullable else [])
    return [int(v) if rule.kind == "int" and v is not None else v for v in values]


def data_keys() -> list:
    keys = [k for k in RULES if k == "seed" or k.startswith("data.")]
    keys = [k for k in keys if not k.startswith("data.synthetic")]
    keys = [k for k in keys if RULES[k].kind in ("int", "real", "bool", "choice")]
    slow = pytest.mark.slow
    return [k if k in TRIAL_KEYS else pytest.param(k, marks=slow) for k in sorted(keys)]


def consume(cfg, store: Path) -> None:
    """What reads the data keys and the seed: the seeding, the datamodule's splits, its
    training batches and a batch of each validation loader."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = hydra.utils.instantiate(cfg.data)
    check_run(cfg, datamodule.split_sizes(), cfg.model.eval_topk)
    datamodule.setup("fit")
    next(iter(datamodule.train_dataloader()))
    for loader in datamodule.val_dataloader():
        next(iter(loader))


@pytest.mark.parametrize("key", data_keys())
def test_a_value_its_rule_accepts_runs_or_is_refused_in_one_line(key, synthetic_store) -> None:
    """Each boundary value of the key: the checks at the door and of the run refuse it with
    one ConfigError line naming a key, or the code that reads it runs (seed=null passed the
    rule and failed in the loader's seeding; data.val_retrieval_limit=1 recorded a false
    collapse)."""
    for value in boundaries(RULES[key]):
        tree = copy.deepcopy(TRAIN)
        tree["data"] |= {"path": str(synthetic_store), "synthetic": None}
        tree["trainer"]["accelerator"] = "cpu"
        parent, _, name = key.rpartition(".")
        (tree[parent] if parent else tree)[name] = value
        if key == "seed":
            tree["data"]["seed"] = value  # data.seed follows the run's seed
        cfg = OmegaConf.create(tree)
        try:
            check_at_the_door(cfg)
            consume(cfg, synthetic_store)
        except ConfigError as error:
            line = str(error)
            assert "\n" not in line and line.split(":")[0] in (*RULES, "data"), (value, line)


@pytest.mark.parametrize("value", [None, -1, 2**32, "abc"])
def test_a_seed_that_is_not_one_is_refused_saying_why(value) -> None:
    tree = copy.deepcopy(TRAIN) | {"seed": value}
    with pytest.raises(
        ConfigError, match=r"^seed: expected an integer .*reproducible by its seed"
    ):
        check_at_the_door(OmegaConf.create(tree))


def test_the_validation_retrieval_set_holds_the_cut_off_and_the_detector_s_need() -> None:
    """200 generated (items, limit, eval_topk, collapse_threshold): refused exactly when the
    set is smaller than eval_topk, or so small that one code shared by all its items is a
    distinct fraction (1 / n) at or above the threshold."""
    rng = np.random.default_rng(273)
    for _ in range(200):
        n, topk = int(rng.integers(1, 120)), int(rng.integers(1, 60))
        threshold = float(rng.choice([0.0, 0.01, 0.05, 0.1, 0.5, 1.0]))
        limit = None if rng.random() < 0.3 else n
        cfg = OmegaConf.create(
            {
                "train": True,
                "test": False,
                "data": {"batch_size": 8, "eval_batch_size": 16, "val_retrieval_limit": limit},
                "trainer": {"max_epochs": 1},
                "model": {"collapse_threshold": threshold},
            }
        )
        sizes = {"train": 64, "query": 5, "retrieval": 500, "val_query": 5, "val_retrieval": n}
        detectable = threshold == 0 or 1 / n < threshold
        if n >= topk and detectable:
            check_run(cfg, sizes, topk)
            continue
        key = "data.val_retrieval_limit" if limit is not None else "data"
        with pytest.raises(ConfigError, match=rf"^{key}: {n} validation retrieval items"):
            check_run(cfg, sizes, topk)


OPTIONAL = ("callbacks.model_checkpoint", "logger.tensorboard", "data.synthetic", "logger.csv")


def test_deleting_a_key_the_run_reads_is_refused_naming_it() -> None:
    """300 generated ``~key`` overrides among the declared keys, the groups every run builds,
    ``_target_`` keys and optional nodes (whose deletion turns them off): refused naming the
    key exactly for the first three."""
    rng = np.random.default_rng(274)
    pool = [*RULES, *REQUIRED_NODES, "data._target_", "model._target_", *OPTIONAL]
    for _ in range(300):
        key = pool[int(rng.integers(0, len(pool)))]
        override = f"~{key}" if rng.random() < 0.7 else f"~{key}=1"
        (found,) = deleted_keys([override, "seed=3", "+foo=1"])
        assert found == key
        if key in OPTIONAL:
            check_deleted_key(key, {}, RULES)
            continue
        reads = rf"^{key}: required, train\.py reads it( \(.* takes it; .*\))?; remove"
        with pytest.raises(ConfigError, match=reads):
            check_deleted_key(key, {}, RULES)


def shared_keys() -> list[str]:
    def present(tree, key):
        for part in key.split("."):
            if not isinstance(tree, dict) or part not in tree:
                return False
            tree = tree[part]
        return True

    return sorted(k for k in RULES if present(TRAIN, k) and present(EVAL, k))


def line_of(check, *args) -> str | None:
    try:
        check(*args)
    except ConfigError as error:
        return str(error).replace("eval.py", "<script>").replace("train.py", "<script>")
    return None


def test_train_py_and_eval_py_refuse_shared_values_with_the_same_line(monkeypatch) -> None:
    """A refused value (by the rule's oracle) of every key both configurations hold, and
    generated test limits: train.py's and eval.py's check paths give the same line."""
    rng = np.random.default_rng(275)
    keys = shared_keys()
    assert len(keys) > 30 and {"seed", "data.batch_size", "trainer.max_epochs"} <= set(keys)
    for key in keys:
        refused = [v for v in CANDIDATES if not oracle(RULES[key], v)]
        for index in rng.choice(len(refused), 1, replace=False):
            lines = []
            for base, script in ((TRAIN, "train.py"), (EVAL, "eval.py")):
                monkeypatch.setattr(sys, "argv", [f"src/{script}"])
                tree = copy.deepcopy(base)
                parent, _, name = key.rpartition(".")
                node = tree
                for part in parent.split(".") if parent else []:
                    node = node[part]
                node[name] = refused[index]
                lines.append(line_of(check_at_the_door, OmegaConf.create(tree)))
            assert lines[0] is not None and lines[0] == lines[1], (key, lines)
    sizes = {"train": 160, "query": 40, "retrieval": 260, "val_query": 40, "val_retrieval": 160}
    for limit in [0, 0.0, 0.001, 0.5, 1, 3, 1.0]:
        trainer = {"limit_test_batches": limit, "limit_val_batches": 1.0, "max_epochs": 1}
        data = {"batch_size": 8, "eval_batch_size": 16}
        lines = [
            line_of(check_run, OmegaConf.create(extra | {"data": data, "trainer": trainer}), *a)
            for extra, a in (
                ({"train": True, "test": True}, (sizes, 50)),
                ({}, (sizes, 50, "a.ckpt")),
            )
        ]
        assert lines[0] == lines[1], (limit, lines)
        assert (lines[0] is None) == (limit not in (0, 0.0, 0.001)), (limit, lines)


@pytest.mark.parametrize("script", ["train.py", "eval.py"])
def test_a_refusal_names_the_script_that_was_run(monkeypatch, script: str) -> None:
    """The added-key and unknown-key lines name the script run; eval.py's hint for model.*
    never leads to a second refusal (it took no + then, and names eval.py)."""
    monkeypatch.setattr(sys, "argv", [f"/x/src/{script}"])
    other = "train.py" if script == "eval.py" else "eval.py"
    values = {"model": {"eval_topk": 10}, "data": {}}
    with pytest.raises(ConfigError) as error:
        check_added_key("nope.key", values, RULES)
    assert f"python src/{script} --cfg job" in str(error.value)
    unknown = Exception("Could not override 'model.eval_topk'. No match in config.")
    hint = composition_error(unknown)
    assert f"{script}'s configuration" in hint and other not in hint
    if script == "eval.py":
        assert "+model.eval_topk" not in hint
        with pytest.raises(ConfigError, match=r"^model\.eval_topk: eval\.py takes no model\."):
            check_added_key("model.eval_topk", {"model": {"eval_topk": 10}}, RULES)
        with pytest.raises(ConfigError, match=r"^data\.batch_size: required, eval\.py reads"):
            check_deleted_key("data.batch_size", {}, RULES)
    else:  # a key the method lacks: its keys are listed, no +key is advised (refused then)
        nope = composition_error(Exception("Could not override 'model.nope'. No match."))
        assert "accepted under model: " in nope and "+model.nope" not in nope, nope


def tiny_checkpoint(path: Path) -> Path:
    """A checkpoint of a freshly built AGCH model on the tiny store's widths."""
    from checkpoint_files import as_written
    from cli_runs import TINY_STORE

    from src.models.agch_module import AGCHModule
    from src.models.base import MODULE_CLASS_KEY

    dims = (TINY_STORE["image_dim"], TINY_STORE["text_dim"])
    model = AGCHModule(*dims, code_length=16, hidden_dim=32, gcn_dim=16)
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        MODULE_CLASS_KEY: "src.models.agch_module.AGCHModule",
        "epoch": 1,
    }
    torch.save(as_written(checkpoint, {"data.synthetic": dict(TINY_STORE, seed=0)}), path)
    return path


def cases(tmp_path: Path, every: bool) -> dict[str, tuple[str, list[str]]]:
    """Line start -> (script, extra arguments) of the trial's cases."""
    ckpt = f"ckpt_path={tiny_checkpoint(tmp_path / 'tiny.ckpt')}"
    chosen = {
        "error: trainer.limit_test_batches: 0 runs no test batch": (
            "eval.py",
            [ckpt, "+trainer.limit_test_batches=0"],
        ),
        "error: seed: expected an integer": ("train.py", ["seed=null"]),
        "error: data.batch_size: required, train.py reads it": ("train.py", ["~data.batch_size"]),
        "error: model.eval_topk: eval.py takes no model.* key": (
            "eval.py",
            [ckpt, "+model.eval_topk=10"],
        ),
    }
    if every:
        chosen |= {
            "error: data.val_retrieval_limit: 1 validation retrieval items": (
                "train.py",
                ["data.val_retrieval_limit=1"],
            ),
            "error: callbacks.model_checkpoint.monitor: expected a validation metric": (
                "train.py",
                ["callbacks.model_checkpoint.monitor=val/nonexistent"],
            ),
            "error: command line: model.eval_topk: not a key of eval.py's": (
                "eval.py",
                [ckpt, "model.eval_topk=10"],
            ),
        }
    return chosen


def run_cases(tmp_path: Path, every: bool) -> None:
    """Started at once; each: exit 2, one error line starting as expected, no traceback;
    nothing under logs/, no results.json anywhere, the checkpoint untouched."""
    from cli_runs import TINY_ARGS, start
    from test_run_lifecycle import finish, one_error_line

    logs, data = tmp_path / "logs", tmp_path / "data"
    data.mkdir()
    chosen = cases(tmp_path, every)
    before = (tmp_path / "tiny.ckpt").read_bytes()
    base = [f"paths.data_dir={data}", f"paths.log_dir={logs}", "logger=none"]
    runs = {}
    for start_of_line, (script, extra) in chosen.items():
        args = TINY_ARGS if script == "train.py" else [a for a in TINY_ARGS if "model." not in a]
        runs[start_of_line] = start(script, [*args, *base, *extra], tmp_path)
    for start_of_line, process in runs.items():
        status, out, err = finish(process)
        line = one_error_line(err, out, alone=False)
        assert status == 2 and line.startswith(start_of_line), (start_of_line, err[-2000:])
    assert not logs.exists() or not any(p.is_file() for p in logs.rglob("*"))
    assert not list(tmp_path.rglob("results.json"))
    assert (tmp_path / "tiny.ckpt").read_bytes() == before


def test_the_trial_cases_are_one_line_and_leave_nothing(tmp_path: Path) -> None:
    """Four of the trial's cases at the command line, in parallel (all: the slow test)."""
    run_cases(tmp_path, every=False)


@pytest.mark.slow
def test_every_trial_case_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    run_cases(tmp_path, every=True)
