"""An override whose interpolation does not resolve is one line at the door (trial 10, F1).

``seed=${nope}``, ``model.lam=${model.nolam}``, ``data.path=${oc.env:NOPE}`` and a checkpoint
in a folder literally named ``d${x}`` gave a 100-200 line traceback (exit 1) and left the run
folder (a sweep: its folder and job 0). Generated: every kind of interpolation failure (missing
key, missing environment variable, unknown resolver, bad grammar, a resolver that raises) in
leaves of every top-level group, through train.py's and eval.py's doors, single runs and
sweeps; then the command line itself, and the printed escape followed through bash.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from door import composed_run, sweep_door

ROOT = Path(__file__).resolve().parents[1]
BROKEN = (
    "${nope}",  # a key that is not there
    "${model.nolam}",  # a key missing in a group
    "${oc.env:NOPE_T10_VAR}",  # an environment variable that is not set
    "${nosuch_resolver:1}",  # an unknown resolver
    "'${oc.decode:\"[1,\"}'",  # a resolver that raises (bad grammar in what it decodes)
    "'x${'",  # bad grammar, quoted past Hydra's parser
    "${oc.dict.values:nope}",  # a resolver that raises on a missing node
)


def leaves(name: str, per_group: int = 2) -> list[str]:
    """The first ``per_group`` scalar leaves of each top-level node of ``name``.yaml."""
    cfg = OmegaConf.to_container(composed_run([], name=name), resolve=False)
    keys: list[str] = []
    for top, node in cfg.items():
        if not isinstance(node, dict):
            keys.append(top)
            continue
        found = [f"{top}.{k}" for k, v in node.items() if not isinstance(v, (dict, list))]
        keys += [k for k in found if not k.endswith("_target_")][:per_group]
    return keys


def one_line(run) -> tuple[int, list[str]]:
    """(exit status, stderr lines) of ``run()`` under `one_line_errors`, or its exception."""
    import contextlib
    import io

    from src.utils.errors import one_line_errors

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            with one_line_errors():
                run()
            return 0, err.getvalue().splitlines()
        except SystemExit as exit_:
            return int(exit_.code), err.getvalue().splitlines()


def refused(status: int, lines: list[str], key: str) -> bool:
    """One ``error:`` line naming the typed ``key`` (not a key derived from it, as
    ``data.seed`` for ``seed``) and saying what does not resolve, exit 2."""
    named = bool(lines) and lines[0].startswith(f"error: {key}: cannot resolve its value")
    return status == 2 and len(lines) == 1 and named


def referenced(name: str) -> list[str]:
    """The keys of ``name``.yaml (Hydra's aside) that another key's value interpolates
    (``seed`` <- ``data.seed``): a failure surfaces under the deriving key."""
    from src.utils.key_sources import references

    cfg = composed_run([], name=name)
    flat = OmegaConf.to_container(cfg, resolve=False)
    keys, todo = set(), [(k, v) for k, v in flat.items() if k != "hydra"]
    while todo:
        key, value = todo.pop()
        if isinstance(value, dict):
            todo += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            keys.update(r for r in references(cfg, key) if not r.startswith("hydra."))
    return sorted(keys)


CASES = [("train", k, v) for k in leaves("train") for v in BROKEN]
CASES += [("eval", k, v) for k in leaves("eval") if k != "ckpt_path" for v in BROKEN[:3]]


@pytest.mark.parametrize("script,key,value", CASES)
def test_single_run_door(script: str, key: str, value: str, tmp_path: Path) -> None:
    """train.py's / eval.py's door refuses the broken interpolation in one line, exit 2."""
    from src.eval import eval_door
    from src.train import train_door

    words = [f"{key}={value}"] + (["ckpt_path=/nonexistent/x.ckpt"] if script == "eval" else [])
    from src.utils.composition_errors import composition_error

    door = train_door if script == "train" else eval_door
    try:
        cfg: DictConfig = composed_run(words, name=script, output_dir=str(tmp_path / "run"))
    except Exception as exc:  # noqa: BLE001  a value Hydra merges: run_cli's one line
        status, lines = 2, [f"error: {composition_error(exc, words)}"]
    else:
        status, lines = one_line(lambda: door(cfg))
    assert refused(status, lines, key), (status, lines)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["seed", "model.lam", "data.path", "trainer.max_epochs"])
@pytest.mark.parametrize("value", BROKEN[:4])
def test_sweep_door(key: str, value: str, tmp_path: Path) -> None:
    """A sweep with the broken interpolation in a job: one line, exit 2, no folder."""
    status, lines = sweep_door([f"{key}={value},1"], tmp_path / "logs")
    assert status == 2 and "cannot resolve its value" in lines[0], lines  # job 1 named
    assert all(line.startswith("error: ") for line in lines), lines
    assert not (tmp_path / "logs").exists()


def run(words: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``words`` through bash (as typed), in the checkout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("NOPE_T10_VAR", None)
    command = " ".join(words)
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True
    )


SMALL = "model.hidden_dim=64 model.gcn_dim=32 trainer.max_epochs=1 data=synthetic"


@pytest.mark.parametrize(
    "words,key",
    [
        ("'seed=${nope}'", "seed"),
        ("'model.lam=${model.nolam}'", "model.lam"),
        ("'data.path=${oc.env:NOPE_T10_VAR}'", "data.path"),
        ("-m 'seed=${nope}'", "seed"),
    ]
    + [(f"'{key}=${{nope}}'", key) for key in referenced("train") if key != "seed"],
)
def test_command_line(words: str, key: str, tmp_path: Path) -> None:
    """train.py itself: one line naming the typed key, exit 2, no run or sweep folder left."""
    folders = f"hydra.run.dir={tmp_path}/run hydra.sweep.dir={tmp_path}/sweep"
    done = run([sys.executable, "src/train.py", SMALL, words, folders])
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f" {key}: " in lines[0], lines  # -m: "error: job 0 (...) seed: ..."
    assert list(tmp_path.iterdir()) == []


def test_literal_dollar_path_escape_followed(tmp_path: Path, synthetic_store: Path) -> None:
    """A checkpoint in a folder named ``d${x}``: the line prints the override with ``\\${``,
    and that word, typed in bash as printed, gets past the interpolation (eval.py then reads
    the path literally: here a file that is no checkpoint, refused for what it is)."""
    folder = tmp_path / "d${x}"
    folder.mkdir()
    (folder / "l.ckpt").write_bytes(b"not a checkpoint")
    typed = shlex.quote(f"ckpt_path={folder}/l.ckpt")
    done = run([sys.executable, "src/eval.py", typed, f"hydra.run.dir={tmp_path}/run"])
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, lines
    assert "\\${" in lines[0], lines
    printed = lines[0].rsplit(", as in ", 1)[1]
    again = run([sys.executable, "src/eval.py", printed, f"hydra.run.dir={tmp_path}/run"])
    line = again.stderr.splitlines()
    assert again.returncode == 2 and len(line) == 1, line
    assert "cannot resolve" not in line[0] and str(folder / "l.ckpt") in line[0], line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", referenced("eval"))
def test_eval_command_line_names_typed_key(key: str, tmp_path: Path) -> None:
    """eval.py with a broken interpolation in a key others derive from names the typed key."""
    words = [sys.executable, "src/eval.py", f"'{key}=${{nope}}'", "ckpt_path=/nonexistent/x.ckpt"]
    done = run(words + [f"hydra.run.dir={tmp_path}/run"])
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {key}: cannot resolve its value"), lines
    assert list(tmp_path.iterdir()) == []


def data_rule_keys() -> list[str]:
    """The data keys with a rule (src/utils/config_rules.py RULES)."""
    from src.utils.config_rules import RULES

    return sorted(key for key in RULES if key.startswith("data."))


@pytest.mark.parametrize("key", data_rule_keys())
def test_a_data_key_typed_as_a_selection_is_named_as_typed(key: str, tmp_path: Path) -> None:
    """``'<data key>=${oc.select:nope}'`` (None) is refused by the store's pre-flight under
    the typed key, not under the key it selects (trial 11 G4: ``nope: expected ...``)."""
    from src.data.preflight import preflight_store

    from src.utils.config_rules import select_key

    present, _ = select_key(OmegaConf.to_container(composed_run([]), resolve=False), key)
    words = [f"{'' if present else '+'}{key}=${{oc.select:nope}}"]
    cfg = composed_run(words, name="train", output_dir=str(tmp_path / "run"))
    status, lines = one_line(lambda: preflight_store(cfg))
    assert status in (0, 2) and len(lines) <= 1, lines
    assert not lines or lines[0].startswith(f"error: {key}: "), lines
