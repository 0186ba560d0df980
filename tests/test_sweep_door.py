"""A sweep's jobs are checked at the door before the first one runs (src/utils/sweep_door.py):
sweeps of a generated mix of valid and refused values of several keys are refused with one
line per refused job, exit 2, nothing written and nothing trained; a sweep of no job exits 2;
an Optuna search's choices and interval ends are checked; a sweep of valid jobs still runs.

The expected refusals are known by construction (each value drawn from a list of values the
rules accept or refuse) and the jobs are numbered by an own product of the drawn values, not by
the door's expansion."""

import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from cli_runs import TINY_ARGS

from src.utils.errors import ConfigError
from src.utils.run_dirs import register_resolvers
from src.utils.sweep_door import check_sweep, use_door

ROOT = Path(__file__).resolve().parents[1]

# key: (values its rule accepts, values it refuses), as typed on the command line
VALUES = {
    "trainer.max_epochs": (["1", "2"], ["abc", "0", "-1", "1.5"]),
    "seed": (["0", "7"], ["abc", "-1", "null"]),
    "data.batch_size": (["8", "16"], ["abc", "1", "0"]),
    "data.num_workers": (["0"], ["-1", "x"]),
    "data.val_mode": (["official", "heldout"], ["bogus"]),
    "model.alpha": (["0.5", "1"], ["-1", "inf", "nan"]),
    "data.synthetic.n_items": (["400", "500"], ["0", "abc"]),
    "trainer.precision": (["32-true"], ["17", "16-mixed"]),
}


def draw_sweep(rng: random.Random) -> tuple[list[str], list[list[str]], set[str]]:
    """(sweep overrides, every job's overrides in product order, the refused overrides): two or
    three keys, each with one to three values drawn from both lists; at most 8 jobs."""
    keys = rng.sample(sorted(VALUES), rng.randint(2, 3))
    sweep, per_key, refused = [], [], set()
    for key in keys:
        good, bad = VALUES[key]
        values = rng.sample(good + bad, rng.randint(1, 2 if len(keys) == 3 else 3))
        sweep.append(f"{key}={','.join(values)}")
        per_key.append([f"{key}={value}" for value in values])
        refused |= {f"{key}={value}" for value in values if value in bad}
    return sweep, [list(job) for job in itertools.product(*per_key)], refused


@contextmanager
def hydra_app() -> Iterator[object]:
    """Hydra initialised on the project's configs, as @hydra.main leaves it; its loader."""
    register_resolvers()
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def door(script: str, overrides: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list]:
    """(exit status, error lines) of the door of ``script``'s multirun of ``overrides``
    composed as Hydra composes a ``-m`` command (`load_configuration` in MULTIRUN mode)."""
    from src.eval import eval_door
    from src.train import train_door

    use_door(train_door if script == "train" else eval_door)
    capsys.readouterr()
    with hydra_app() as loader:
        config = loader.load_configuration(
            script, [*overrides, "hydra.mode=MULTIRUN"], run_mode=RunMode.MULTIRUN
        )
        try:
            check_sweep(config)
            status = 0
        except SystemExit as exit_:
            status = int(exit_.code)
    return status, capsys.readouterr().err.splitlines()


def tree(folder: Path) -> list[str]:
    """Every path below ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def check_mix(rng: random.Random, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One drawn sweep: exactly its refused jobs get a line each, numbered as the product of the
    drawn values, naming the job's own overrides and the refused key; nothing is written."""
    sweep, jobs, refused = draw_sweep(rng)
    (tmp_path / "data").mkdir(exist_ok=True)
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    before = tree(tmp_path)
    status, lines = door("train", [*TINY_ARGS, *where, *sweep], capsys)
    assert tree(tmp_path) == before, sweep
    expected = [(n, job) for n, job in enumerate(jobs, 1) if refused & set(job)]
    assert status == (2 if expected else 0), (sweep, lines)
    assert len(lines) == len(expected), (sweep, lines)
    shared = set.intersection(*(set(job) for job in jobs))
    for line, (number, job) in zip(lines, expected):
        assert line.startswith(f"error: src/train.py: job {number} of {len(jobs)}"), line
        assert all(o in line for o in job if o not in shared), (line, job)
        keys = {o.split("=")[0] for o in refused & set(job)}
        assert any(f": {key}: " in line or f" {key}=" in line for key in keys), line


def test_a_drawn_sweep_is_refused_job_by_job(tmp_path: Path, capsys) -> None:
    check_mix(random.Random(32), tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_drawn_sweeps_are_refused_job_by_job(seed: int, tmp_path: Path, capsys) -> None:
    check_mix(random.Random(seed), tmp_path, capsys)


def test_split_sizes_of_an_existing_store_are_checked(tmp_path: Path, capsys) -> None:
    """A batch size above the training pairs of an existing store (160) and a retrieval
    cut-off above its retrieval set are refused at the door; the same values pass while the
    synthetic store is yet to be made (its job checks them once it has made it)."""
    from src.data.synthetic import make_synthetic
    from cli_runs import TINY_STORE

    store = tmp_path / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    sweep = ["data.batch_size=8,5000", "model.eval_topk=50,100000"]
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"data.path={store}"]
    status, lines = door("train", [*TINY_ARGS, *where, *sweep], capsys)
    assert status == 2 and len(lines) == 3, lines
    assert "job 2 of 4 (data.batch_size=8 model.eval_topk=100000): model.eval_topk: " in lines[0]
    assert "job 3 of 4 (data.batch_size=5000 model.eval_topk=50): data.batch_size: " in lines[1]
    assert "more than the 160 training pairs" in lines[1] and "job 4 of 4" in lines[2]
    (tmp_path / "data").mkdir()
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    assert door("train", [*TINY_ARGS, *where, *sweep], capsys) == (0, [])
    assert tree(tmp_path) == ["data", "tiny.h5"]


def test_a_sweep_of_no_job_is_refused(capsys) -> None:
    """A glob that matches no experiment names the options it was matched against; a range of
    no value names the override."""
    with pytest.raises(ConfigError) as glob:
        door("train", ["experiment=glob(nomatch_*)"], capsys)
    assert "experiment=glob(nomatch_*): the sweep has no job" in str(glob.value)
    options = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))
    assert f"none of the {len(options)} options of experiment ({options[0]}, " in str(glob.value)
    wiki = sorted(name for name in options if name.startswith("wiki_") and name.endswith("bit"))
    with pytest.raises(ConfigError) as excluded:
        door("train", ["experiment=glob(wiki_*bit,exclude=wiki_*)"], capsys)
    assert f"include matched {len(wiki)} options of experiment ({wiki[0]}, " in str(
        excluded.value
    ) and "its exclude removed them all" in str(excluded.value)
    with pytest.raises(ConfigError, match=r"seed=range\(0,0\): the sweep has no job"):
        door("train", ["seed=range(0,0)", "trainer.max_epochs=1,2"], capsys)


@pytest.mark.parametrize("draw", range(3))
def test_jobs_whose_folder_holds_a_run_are_refused(draw: int, tmp_path: Path, capsys) -> None:
    """A sweep given again into a sweep folder whose job folders hold earlier runs (seventh
    trial: the jobs trained into them, replacing results.json and last.ckpt): each job whose
    folder holds a results.json or a checkpoint is refused under hydra.sweep.dir, the others
    pass, and nothing changes. Drawn: which job folders hold what, and a user's folder."""
    rng = random.Random(draw)
    sweep = tmp_path / "sweep"
    held = {
        n: rng.choice(["results.json", "checkpoints/last.ckpt", "epoch_000.ckpt", None])
        for n in range(3)
    }
    for number, name in held.items():
        if name is not None:
            (sweep / str(number) / name).parent.mkdir(parents=True, exist_ok=True)
            (sweep / str(number) / name).write_text("{}")
    (tmp_path / "data").mkdir()
    where = [f"hydra.sweep.dir={sweep}", f"paths.data_dir={tmp_path / 'data'}"]
    before = tree(tmp_path)
    status, lines = door("train", [*TINY_ARGS, *where, "seed=0,1,2"], capsys)
    assert tree(tmp_path) == before
    refused = [n for n, name in held.items() if name is not None]
    assert status == (2 if refused else 0) and len(lines) == len(refused), (held, lines)
    for line, number in zip(lines, refused):
        assert line.startswith(
            f"error: src/train.py: job {number + 1} of 3 (seed={number}): "
        ), line
        assert f"hydra.sweep.dir: {sweep / str(number)} holds an earlier run (" in line, line
        assert Path(held[number]).name in line and "give another hydra.sweep.dir" in line, line


def test_eval_sweep_checks_each_checkpoint(tmp_path: Path, capsys) -> None:
    """eval.py's door per job: missing checkpoints, a file that is no checkpoint, a bad seed."""
    not_ckpt = tmp_path / "notes.ckpt"
    not_ckpt.write_text("not a checkpoint")
    paths = [str(tmp_path / "a.ckpt"), str(not_ckpt)]
    where = f"paths.log_dir={tmp_path / 'logs'}"
    status, lines = door("eval", [f"ckpt_path={','.join(paths)}", "seed=abc,0", where], capsys)
    assert status == 2 and len(lines) == 4, lines
    for number, (path, seed) in enumerate(itertools.product(paths, ["abc", "0"]), 1):
        line = lines[number - 1]
        assert line.startswith(f"error: src/eval.py: job {number} of 4 (ckpt_path={path} "), line
        assert "seed: expected an integer" in line if seed == "abc" else line.count(path) == 2
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow  # 17 compositions
@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("hydra_plugins.hydra_optuna_sweeper"),
    reason="hydra-optuna-sweeper not installed",
)
def test_search_space_is_checked_at_its_choices_and_ends(tmp_path: Path, capsys) -> None:
    """The configured search passes; an interval whose low end a rule refuses and a choice the
    rules refuse are each named; a fixed override is checked too."""
    base = ["hparams_search=optuna", f"paths.log_dir={tmp_path / 'logs'}", *TINY_ARGS]
    assert door("train", base, capsys) == (0, [])
    bad = ["model.alpha=interval(-1.0, 2.0)", "model.loss_scale=choice(paper,bogus)"]
    status, lines = door("train", [*base, *bad], capsys)
    assert status == 2 and len(lines) == 2, lines
    assert "search space model.alpha=interval(-1.0, 2.0): its value model.alpha=-1.0" in lines[0]
    assert "model.alpha" in lines[0].split("its value")[1]
    assert "its value model.loss_scale=bogus" in lines[1] and "loss_scale" in lines[1]
    status, lines = door("train", [*base, "seed=abc"], capsys)
    assert status == 2 and len(lines) == 1 and "seed: expected an integer" in lines[0], lines
    assert not (tmp_path / "logs").exists()


def multirun(script: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python src/<script> -m ARGS`` single-threaded."""
    command = [sys.executable, str(ROOT / "src" / script), "-m", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_refused_sweep_writes_and_trains_nothing(tmp_path: Path) -> None:
    """The trial's case: the valid job (seed=1, max_epochs=1) used to train before the bad ones
    were refused, leaving job folders and exit 1; now exit 2, a line per refused job, no file."""
    (tmp_path / "data").mkdir()
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    sweep = ["seed=abc,1", "trainer.max_epochs=1,abc"]
    result = multirun("train.py", [*TINY_ARGS, *where, *sweep], tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert [line.split(":")[2] for line in lines] == [
        " job 1 of 4 (seed=abc trainer.max_epochs=1)",
        " job 2 of 4 (seed=abc trainer.max_epochs=abc)",
        " job 4 of 4 (seed=1 trainer.max_epochs=abc)",
    ], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == ["data"]  # no logs/, no store, no checkpoint, no results.json


@pytest.mark.slow
def test_sweep_of_valid_jobs_runs_and_empty_or_refused_ones_do_not(tmp_path: Path) -> None:
    """End to end: two valid jobs train (one epoch of tiny data) and write their results; an
    eval sweep of missing checkpoints and a sweep of no job exit 2 and write nothing."""
    (tmp_path / "data").mkdir()
    where = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    tiny = [*TINY_ARGS, "trainer.max_epochs=1", "logger=csv", *where]
    result = multirun("train.py", [*tiny, "seed=0,1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    records = sorted((tmp_path / "logs").rglob("results.json"))
    assert [json.loads(r.read_text())["status"] for r in records] == ["completed"] * 2
    before = tree(tmp_path)
    for script, args in [
        ("eval.py", [f"ckpt_path={tmp_path / 'a.ckpt'},{tmp_path / 'b.ckpt'}", *where]),
        ("train.py", ["experiment=glob(nomatch_*)", *where]),
    ]:
        result = multirun(script, args, tmp_path)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and len(lines) == (2 if script == "eval.py" else 1), lines
        assert "Traceback" not in result.stderr
        assert tree(tmp_path) == before


def test_a_job_is_named_by_its_overrides_as_typed(tmp_path: Path, capsys) -> None:
    """Refused jobs whose values hold the override grammar's special characters (eleventh
    trial: ``-m 'seed=0,${nope}'`` named the job ``seed=$\\{nope\\}``): the line names each
    job's own overrides exactly as typed in the sweep list."""
    where = [f"paths.log_dir={tmp_path / 'logs'}"]
    for key, value in [
        ("seed", "${nope}"),
        ("trainer.max_epochs", "${oc.env:NOPE_T12}"),
        ("model.alpha", "${oc.select:nope}"),
        ("data.batch_size", "${oc.select:nope,abc}"),
    ]:
        status, lines = door("train", [*TINY_ARGS, *where, f"{key}=8,{value}"], capsys)
        assert status == 2 and len(lines) == 1, (key, value, lines)
        assert lines[0].startswith(f"error: src/train.py: job 2 of 2 ({key}={value}): "), lines


def test_the_typed_form_undoes_hydras_escapes() -> None:
    """500 random strings over the grammar's special characters, escaped by Hydra's own
    function, come back as they were."""
    from hydra._internal.grammar.utils import escape_special_characters

    from src.utils.sweep_jobs import typed_form

    rng = random.Random(12)
    alphabet = "\\()[]{}:=, \tab$1."
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert typed_form("k=" + escape_special_characters(text)) == "k=" + text, repr(text)
