"""A checkpoint's recorded settings and loop state keep the project's rules (issue 22, trial
34: a finished run's last.ckpt edited -- seed=-1, data.batch_size=0, trainer.precision='17',
epoch=-3 -- and saved again with the project's own digest was evaluated and resumed, exit 0,
and a resume then advised ``give data.batch_size=0``). Generated cases: every recorded key
that has a rule, with a value the rule's declaration refuses (drawn from its kind and bounds),
and the loop-state contradictions; each is refused by eval.py's and train.py's door (a
resume), naming the file, the recorded key and the value, before any work; two of them on the
command line."""

from __future__ import annotations

import copy
import inspect
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from cli_runs import TINY_ARGS, TINY_STORE, start
from door import composed_run
from test_run_lifecycle import finish, one_error_line

from src.data.datamodule import AGCHDataModule
from src.data.synthetic import make_synthetic
from src.models.agch_module import AGCHModule
from src.utils.checkpoint_content import with_digest
from src.utils.config_rules import RULES
from src.utils.errors import DataError
from src.utils.resume_checks import flat, run_settings
from src.utils.rule_kinds import Rule

DATAMODULE = "datamodule_hyper_parameters"
WORDS = [*TINY_ARGS, "model.eval_ks=[1]", "logger=none", "trainer.max_epochs=1"]
# the method's rule categories (src/models/checks.py check_rules) -> values each refuses
MODEL_REFUSED = {
    "positive_ints": [0, -2, 1.5],
    "non_negative": [-0.5, "1"],
    "positive": [0.0, -1.0, float("inf")],
    "bools": ["yes", 1],
    "choices": ["nope", 3],
}
EVAL_KEYS = {  # the evaluation keys every method takes (check_eval_hparams), by category
    "positive_ints": ("image_dim", "text_dim", "code_length", "eval_topk"),
    "bools": ("stop_on_collapse",),
    "choices": ("eval_ties",),
}


def refused_values(rule: Rule) -> list[Any]:
    """Values that ``rule``'s declaration refuses, read from its kind, bounds and options (not
    from its check): below ``low``, above ``high``, of another type, null where not allowed."""
    values: list[Any] = [] if rule.nullable or None in rule.also else [None]
    if rule.kind in ("int", "real"):
        values += [rule.low - 1] if rule.low is not None else []
        values += [rule.high + 1] if rule.high is not None else []
        values += ["3", float("nan")] + ([1.5] if rule.kind == "int" else [])
    else:
        values += {
            "choice": ["17", 2.5],
            "bool": ["yes", 1],
            "str": ["", 3],
            "name": ["a/b", ".."],
            "fraction": [-0.5, 1.5],
            "interval": [0, 0.0, 1.5],
            "list_str": [[1]],
        }.get(rule.kind, [])
    return [v for v in values if not any(type(v) is type(a) and v == a for a in rule.also)]


def model_keys() -> dict[str, str]:
    """AGCH's hyper-parameters that have a rule, by the category of `MODEL_REFUSED`."""
    found = {key: cat for cat, keys in EVAL_KEYS.items() for key in keys}
    for category, keys in AGCHModule.RULES.items():
        found |= {key: category for key in keys}
    return found


def setting_cases() -> list[tuple[str, Any]]:
    """(recorded key, refused value): one drawn per key of run_settings, of
    datamodule_hyper_parameters and of hyper_parameters that has a rule."""
    rng = random.Random(34)
    cfg = composed_run(WORDS)
    cases = []
    recorded = {f"run_settings.{key}": key for key in flat(run_settings(cfg))}
    for name in inspect.signature(AGCHDataModule.__init__).parameters:
        recorded[f"{DATAMODULE}.{name}"] = f"data.{name}"
    for key in [k for k in recorded if k.startswith("run_settings.data.synthetic.")]:
        recorded[key.replace("run_settings.data.", f"{DATAMODULE}.")] = recorded[key]
    for where, key in sorted(recorded.items()):
        rule = RULES.get(key)
        if rule is not None and rule.kind != "folder" and refused_values(rule):
            cases.append((where, rng.choice(refused_values(rule))))
    for key, category in sorted(model_keys().items()):
        cases.append((f"hyper_parameters.{key}", rng.choice(MODEL_REFUSED[category])))
    return cases


# (recorded key, an edit of the checkpoint that makes it contradict its loop state or data)
LOOP_STEP = "loops.fit_loop.epoch_loop.manual_optimization.optim_step_progress.total.completed"
CONTRADICTIONS: dict[str, Any] = {
    "epoch=-3": ("epoch", lambda c: c.update(epoch=-3)),
    "epoch=7": ("epoch", lambda c: c.update(epoch=7)),
    "epoch=0.5": ("epoch", lambda c: c.update(epoch=0.5)),
    "global_step=-1": ("global_step", lambda c: c.update(global_step=-1)),
    "global_step+3": ("global_step", lambda c: c.update(global_step=c["global_step"] + 3)),
    "steps counted -1": (LOOP_STEP, lambda c: _set(c, LOOP_STEP, -1)),
    "completed > processed": (
        "loops.fit_loop.epoch_progress.total.completed",
        lambda c: _set(c, "loops.fit_loop.epoch_progress.total.completed", 5),
    ),
    "current > total": (
        "loops.fit_loop.epoch_loop.batch_progress.current.ready",
        lambda c: _set(c, "loops.fit_loop.epoch_loop.batch_progress.current.ready", 99),
    ),
    "eval_topk > retrieval items": (
        "hyper_parameters.eval_topk",
        lambda c: c["hyper_parameters"].update(eval_topk=100000),
    ),
    "batch sizes differ": (
        "run_settings.data.batch_size",
        lambda c: c["run_settings"].update({"data.batch_size": 3}),
    ),
    "synthetic splits beyond n_items": (
        "run_settings.data.synthetic",
        lambda c: [
            data.update(n_train=10_000)  # both records alike: the two agree
            for data in (c["run_settings"]["data.synthetic"], c[DATAMODULE]["synthetic"])
        ],
    ),
}


def _set(checkpoint: dict, key: str, value: Any) -> None:
    """Set ``key`` (dots between the levels; Lightning's own keys hold dots) in place."""
    node, rest = checkpoint, key
    while rest not in node:
        head = next(k for k in node if rest.startswith(f"{k}."))
        node, rest = node[head], rest[len(head) + 1 :]
    node[rest] = value


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A one-epoch run of src/train.py's `train` on a tiny synthetic store (its last.ckpt as
    train.py writes it), and the configurations of eval.py and of a resume of it."""
    from hydra.core.hydra_config import HydraConfig

    from src.train import train

    root = tmp_path_factory.mktemp("records")
    store = root / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    words = [*WORDS, f"data.path={store}", f"paths.log_dir={root / 'logs'}"]
    train(composed_run(words, output_dir=str(root / "run")))
    ckpt = root / "run" / "checkpoints" / "last.ckpt"
    eval_words = [w for w in words if not w.startswith("model.")]  # the checkpoint's model
    doors = {}
    for script, name, more in (
        ("eval", "eval", []),
        ("resume", "train", ["trainer.max_epochs=2"]),
    ):
        cfg = composed_run(
            [*(eval_words if name == "eval" else words), *more, f"ckpt_path={ckpt}"],
            name=name,
            output_dir=str(root / script),
        )
        doors[script] = (cfg, HydraConfig.instance().cfg)
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    return {"root": root, "words": words, "checkpoint": checkpoint, "doors": doors}


def edited(trained: dict[str, Any], edit: Any, folder: Path) -> Path:
    """The run's checkpoint edited in place by ``edit`` and saved again with the project's
    digest (`with_digest`), as the trial did."""
    checkpoint = copy.deepcopy(trained["checkpoint"])
    edit(checkpoint)
    checkpoint.pop("content_sha256")
    path = folder / "edited.ckpt"
    torch.save(with_digest(checkpoint), path)
    return path


def door_line(trained: dict[str, Any], script: str, path: Path) -> str:
    """The refusal of eval.py's door (``eval``) or train.py's (``resume``) for checkpoint
    ``path``, as in-process as the scripts run it before any work."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from src.eval import eval_door
    from src.train import train_door

    cfg, hydra_cfg = trained["doors"][script]
    HydraConfig.instance().cfg = hydra_cfg
    with open_dict(cfg):
        cfg.ckpt_path = str(path)
    with pytest.raises(DataError) as error:
        (eval_door if script == "eval" else train_door)(cfg)
    return str(error.value)


@pytest.mark.parametrize("script", ["eval", "resume"])
@pytest.mark.parametrize(("key", "value"), setting_cases(), ids=repr)
def test_a_recorded_setting_that_breaks_its_rule_is_refused(
    trained: dict[str, Any], script: str, key: str, value: Any, tmp_path: Path
) -> None:
    """The line names the file, the recorded key and its value, says what the rule expects
    and advises no value (no ``give key=<the refused value>``)."""
    path = edited(trained, lambda c: _set(c, key, value), tmp_path)
    line = door_line(trained, script, path)
    assert line.startswith(f"{path} [{key}]: the checkpoint records {value!r}; expected "), line
    assert "edited or written by other code" in line and "give " not in line, line


@pytest.mark.parametrize("script", ["eval", "resume"])
@pytest.mark.parametrize("case", sorted(CONTRADICTIONS))
def test_a_checkpoint_that_contradicts_its_loop_state_or_data_is_refused(
    trained: dict[str, Any], script: str, case: str, tmp_path: Path
) -> None:
    """Loop counters and their totals, epoch and global step against the loop's counts,
    eval_topk against the recorded synthetic data, one setting recorded twice."""
    key, edit = CONTRADICTIONS[case]
    path = edited(trained, edit, tmp_path)
    line = door_line(trained, script, path)
    assert line.startswith(f"{path} [{key}]: the checkpoint records "), line
    assert "edited or written by other code" in line and "give " not in line, line


def test_the_checkpoint_as_written_passes_both_doors(trained: dict[str, Any], tmp_path) -> None:
    """The reference: the same file saved again unedited is accepted by both doors."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from src.eval import eval_door
    from src.train import train_door

    path = edited(trained, lambda c: None, tmp_path)
    for script, door in (("eval", eval_door), ("resume", train_door)):
        cfg, HydraConfig.instance().cfg = trained["doors"][script]
        with open_dict(cfg):
            cfg.ckpt_path = str(path)
        door(cfg)


def test_the_scripts_refuse_an_edited_checkpoint_in_one_line(trained, tmp_path) -> None:
    """On the command line: eval.py and a resume of train.py exit 2 with the one line, and
    eval.py leaves no run folder."""
    cases = {"eval.py": ("run_settings.seed", -1), "train.py": ("epoch", -3)}
    runs = {}
    for script, (key, value) in cases.items():
        folder = tmp_path / script
        folder.mkdir()
        path = edited(trained, lambda c, k=key, v=value: _set(c, k, v), folder)
        words = trained["words"]
        args = (
            [w for w in words if not w.startswith("model.")]
            if script == "eval.py"
            else [*words, "trainer.max_epochs=2", f"hydra.run.dir={folder / 'run'}"]
        )
        runs[script] = (path, key, start(script, [*args, f"ckpt_path={path}"], tmp_path))
    for script, (path, key, process) in runs.items():
        status, out, err = finish(process)
        line = one_error_line(err, out)
        assert status == 2 and line.startswith(f"error: {path} [{key}]: the checkpoint records")
    assert not list((trained["root"] / "logs").glob("eval/runs/*"))
