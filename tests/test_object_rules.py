"""Configuration checked at the door, second trial (issue 22): every key that reaches the trainer,
a callback or a logger has a rule; output folders are tried before any work; the run folder is
checked before Hydra makes it; optimized_metric before training; misspelt keys get the
closest known key. Generated cases, each checked against a plain re-implementation."""

import copy
import difflib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from config_snapshot import CONFIGS, SNAPSHOT

from src.data.store import missing_store
from src.utils.config_rules import RULES, check_config
from src.utils.errors import ConfigError
from src.utils.rule_kinds import FOLDER
from src.utils.metric_names import check_metric_names, validation_metrics
from src.utils.run_dirs import (
    check_before_run_folder,
    check_not_a_user_folder,
    check_run_folder_path,
)
from src.utils.suggest import closest, known_keys

OBJECT_GROUPS = ("trainer", "callbacks", "logger")
BASE = json.loads(SNAPSHOT.read_text())["train"]["composed"]


def object_keys() -> dict[str, list]:
    """Every dotted key under trainer/callbacks/logger that a config file sets, with the values
    the files give it: group files go under their folder's name, ``_global_`` files as
    written; the arguments are ``trainer.<arg>`` and ``callbacks|logger.<name>.<arg>``, and
    those of a target given as an argument (``trainer.strategy.<arg>``). A plain walk of the
    YAML, apart from src/utils/suggest.py."""
    found: dict[str, list] = {}

    def walk(name: str, value: object) -> None:
        last = name.rpartition(".")[2]
        if last in ("defaults", "_target_"):
            return
        if name.count(".") + 1 >= (2 if name.startswith("trainer") else 3):
            found.setdefault(name, []).append(value)
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{name}.{key}", inner)

    for path in sorted(CONFIGS.rglob("*.yaml")):
        text = path.read_text()
        tree = yaml.safe_load(text) or {}
        group = path.relative_to(CONFIGS).parts[0] if path.parent != CONFIGS else ""
        if "@package _global_" in text or not group:
            for name in OBJECT_GROUPS:
                walk(name, tree.get(name))
        elif group in OBJECT_GROUPS:
            walk(group, tree)
    return found


def test_every_key_of_the_trainer_callbacks_and_loggers_has_a_rule() -> None:
    keys = object_keys()
    assert len(keys) >= 40, sorted(keys)  # every trainer, callback and logger file is read
    missing = sorted(key for key in keys if key not in RULES)
    assert not missing, missing
    for key, values in keys.items():  # what the files ship is allowed
        for value in values:
            if not (isinstance(value, str) and "${" in value):  # interpolations: resolved
                assert RULES[key].allows(value), (key, value)


def wrong_values(value: object) -> list:
    """Values of another type than ``value`` and, for numbers, far out of any domain."""
    swaps = {bool: ["yes", 2], int: ["abc", 1.5, -(10**6)], float: ["abc", math.nan, -1e9]}
    swaps[str] = [7, ["a"], {"a": 1}]
    swaps[type(None)] = [{"a": [1, {}]}, -(10**6)]
    swaps[dict] = ["not a mapping", 3]
    return swaps[type(value)]


def with_value(key: str, value: object) -> dict:
    tree = copy.deepcopy(BASE)
    node = tree
    *parents, last = key.split(".")
    for depth, part in enumerate(parents):
        parent = ".".join(parents[: depth + 1])
        if not isinstance(node.get(part), dict):
            node[part] = {"_target_": "a.Target"} if parent in RULES else {}
        node = node[part]
    node[last] = value
    return tree


def test_every_object_key_refuses_another_type_and_out_of_domain_values() -> None:
    """For every key (all 40-odd) and the first value a config file gives it: two wrong values
    (another type; for numbers far out of range), each one ConfigError naming the key, from
    check_config -- which train.py runs before anything is built."""
    checked = 0
    for key, values in object_keys().items():
        shipped = values[0] if not isinstance(values[0], str) or "${" not in values[0] else "x"
        for value in wrong_values(shipped)[:2]:
            if RULES[key].allows(value):  # e.g. an int where null is shipped and ints fit
                continue
            with pytest.raises(ConfigError) as error:
                check_config(OmegaConf.create(with_value(key, value)))
            assert str(error.value).startswith(f"{key}: expected "), (key, value, error.value)
            checked += 1
    assert checked >= 70


def makeable(path: Path, root: Path) -> bool:
    """The reference: really make the folder (and its parents) and write a file in it; then
    remove whatever this made under ``root``."""
    before = set(root.rglob("*"))
    try:
        os.makedirs(path, exist_ok=True)
        (path / "probe.txt").write_text("x")
        (path / "probe.txt").unlink()
        return True
    except OSError:
        return False
    finally:
        for made in sorted(set(root.rglob("*")) - before, key=lambda p: -len(p.parts)):
            made.rmdir()


def test_an_output_folder_is_allowed_exactly_when_it_can_be_made(tmp_path: Path) -> None:
    """60 generated paths (new, nested, existing, under a file, a file, broken and good links,
    /proc, names over 255 bytes, paths over 4096): FOLDER allows exactly those that can be
    made and written, its line says why not, and the check itself leaves nothing behind."""
    rng = np.random.default_rng(26)
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes").write_text("x")
    os.symlink(tmp_path / "nowhere", tmp_path / "broken")
    os.symlink(tmp_path / "full", tmp_path / "link")
    pieces = ["a", "b" * 255, "c" * 256, "file", "full", "broken", "link", ".", ".."]
    cases = [Path("/proc/x"), Path("/proc/1/x/y"), tmp_path / (("d" * 200 + "/") * 25)]
    for _ in range(57):
        parts = rng.choice(pieces, size=int(rng.integers(1, 4)))
        cases.append(tmp_path.joinpath(*parts))
    before = sorted(p.name for p in tmp_path.iterdir())
    for path in cases:
        allowed = FOLDER.allows(str(path))
        assert sorted(p.name for p in tmp_path.iterdir()) == before, path
        assert allowed == makeable(path, tmp_path), path
        if not allowed:
            with pytest.raises(ConfigError, match=r"^k: expected a folder that can be made and "):
                FOLDER.check("k", str(path))


def test_an_empty_run_folder_path_is_refused(tmp_path: Path) -> None:
    """hydra.run.dir='' made a trial's run write .hydra/, checkpoints/ and results.json into
    the checkout (Path("") is the current folder): refused with one line, as is every
    output-folder key given ""; a named folder next to it is accepted."""
    empty = r"^hydra\.run\.dir: expected .*an empty path, the current folder"
    with pytest.raises(ConfigError, match=empty):
        check_run_folder_path("")
    with pytest.raises(ConfigError, match=r"^k: expected a folder"):
        FOLDER.check("k", "")
    check_run_folder_path(str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_run_folder_of_other_files_is_refused(tmp_path: Path) -> None:
    """40 generated folders: refused exactly when the folder exists, holds something and has
    no .hydra/ record nor an earlier run's results.json (a user's folder); empty, missing and
    run folders are accepted."""
    rng = np.random.default_rng(5)
    for case in range(40):
        folder = tmp_path / f"f{case}"
        if rng.random() < 0.8:
            folder.mkdir()
            for name in rng.choice(["notes.txt", ".hydra", "data", "results.json"], 2):
                target = folder / str(name)
                target.mkdir(exist_ok=True) if name in (".hydra", "data") else target.touch()
        names = os.listdir(folder) if folder.is_dir() else []
        refused = bool(names) and ".hydra" not in names and "results.json" not in names
        if refused:
            with pytest.raises(ConfigError, match=rf"^hydra\.run\.dir: {folder} is a folder of"):
                check_not_a_user_folder(folder)
        else:
            check_not_a_user_folder(folder)


def test_where_the_run_folder_goes_is_checked_before_it_is_made() -> None:
    """Generated task names (plain or not) x a search preset x -m or not."""
    rng = np.random.default_rng(9)
    names = ["train", "my_task", "..", ".", "", "a/b", "../..", "x\\y", "ok.2", "/abs"]
    for _ in range(40):
        name, search, sweep = str(rng.choice(names)), rng.random() < 0.4, rng.random() < 0.5
        config = OmegaConf.create(
            {"task_name": name, "hydra": {"runtime": {"choices": {"hparams_search": None}}}}
        )
        if search:
            config.hydra.runtime.choices.hparams_search = "optuna"
        plain = name not in ("", ".", "..") and "/" not in name and "\\" not in name
        if not plain:
            with pytest.raises(ConfigError, match=r"^task_name: expected a plain name"):
                check_before_run_folder(config, sweep)
        elif search and not sweep:
            with pytest.raises(ConfigError, match=r"^hparams_search: optuna .* needs -m"):
                check_before_run_folder(config, sweep)
        else:
            check_before_run_folder(config, sweep)


class Metric:
    def __init__(self, topk, ks, compute_map_all) -> None:
        self.topk, self.ks, self.compute_map_all = topk, ks, compute_map_all


def test_optimized_metric_is_one_that_validation_logs() -> None:
    """Generated metric settings and names: accepted exactly when the name is one a plain
    listing of the validation's metrics holds; a run that never validates refuses any."""
    rng = np.random.default_rng(11)
    for _ in range(30):
        topk = [None, 10, 50][int(rng.integers(0, 3))]
        ks = sorted({int(k) for k in rng.integers(1, 400, size=int(rng.integers(1, 4)))})
        metric, n = Metric(topk, ks, bool(rng.integers(0, 2))), int(rng.integers(5, 300))
        listed = {"val/objective", "val/collapsed"}
        for kind in ([f"map@{topk}"] if topk else []) + (["map@all"] * metric.compute_map_all):
            listed |= {f"val/{kind}", f"val/i2t_{kind}", f"val/t2i_{kind}"}
        listed |= {f"val/{d}_p@{min(k, n)}" for k in ks for d in ("i2t", "t2i")}
        assert validation_metrics(metric, n) == listed
        model = type("Model", (), {"val_metric": metric})()
        for name in [*sorted(listed)[:3], "val/foo", "test/map@50", "val/map@7", "train/loss"]:
            cfg = OmegaConf.create(
                {"train": True, "optimized_metric": name, "trainer": {"max_epochs": 3}}
            )
            if name in listed:
                check_metric_names(cfg, model, {"val_retrieval": n})
                cfg.trainer.limit_val_batches = 0
            with pytest.raises(ConfigError, match=r"^optimized_metric: "):
                check_metric_names(cfg, model, {"val_retrieval": n})


def misspellings(key: str, rng: np.random.Generator) -> str:
    """``key`` with one letter of its last name dropped, doubled or swapped with the next."""
    parent, _, name = key.rpartition(".")
    i = int(rng.integers(0, len(name) - 1))
    kind = int(rng.integers(0, 3))
    wrong = [
        name[:i] + name[i + 1 :],
        name[:i] + name[i] + name[i:],
        name[:i] + name[i + 1] + name[i] + name[i + 2 :],
    ][kind]
    return f"{parent}.{wrong}" if parent else wrong


def test_a_misspelt_key_is_told_the_closest_known_one() -> None:
    """100 generated misspellings of known keys: the suggestion is the key itself, or one at
    least as close by difflib's ratio on the last name among its siblings (a tie)."""
    keys = sorted(k for k in known_keys() if len(k.rpartition(".")[2]) >= 5)
    rng = np.random.default_rng(2)
    exact = 0
    for index in rng.choice(len(keys), 100, replace=False):
        key = keys[index]
        wrong = misspellings(key, rng)
        if wrong in known_keys():
            continue
        found = closest(wrong, known_keys())
        assert found is not None, (key, wrong)
        assert found.rpartition(".")[0] == key.rpartition(".")[0], (key, wrong, found)
        name = wrong.rpartition(".")[2]
        mine = difflib.SequenceMatcher(None, name, found.rpartition(".")[2]).ratio()
        theirs = difflib.SequenceMatcher(None, name, key.rpartition(".")[2]).ratio()
        assert mine >= theirs, (key, wrong, found)
        exact += found == key
    assert exact >= 80


def test_a_folder_given_as_the_store_is_called_a_folder(tmp_path: Path) -> None:
    error = missing_store(tmp_path, "prepare it")
    expected = f"{tmp_path} [data.path]: expected an HDF5 feature store file, found a folder"
    assert str(error) == expected
    missing = str(missing_store(tmp_path / "x.h5", "prepare it"))
    assert missing.endswith("found nothing there (no such file or folder); prepare it")


DEFAULT_CASES = (
    "trainer.accelerator",
    "logger.tensorboard.save_dir",
    "optimized_metric",
    "not a run folder",
    "task_name",
    "did you mean model.alpha?",
)


def start_refused(tmp_path: Path, chosen: tuple[str, ...] | None = None) -> dict:
    """The trial's cases (and kin) started at once (those ``chosen``, default all): key or
    words of the line -> process."""
    import h5py

    from cli_runs import TINY_ARGS, start
    from conftest import TINY_DATA_PARAMS
    from src.data.synthetic import make_synthetic, store_file

    data, logs = tmp_path / "data", tmp_path / "a" / "b" / "logs"
    data.mkdir()
    make_synthetic(store_file(str(data), TINY_DATA_PARAMS), seed=0, **TINY_DATA_PARAMS)
    make_synthetic(data / "nan.h5", seed=0, **TINY_DATA_PARAMS)
    with h5py.File(data / "nan.h5", "a") as h5:
        h5["image"][7, 1] = np.nan
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("x")
    base = [*TINY_ARGS, f"paths.data_dir={data}", f"paths.log_dir={logs}", "logger=none"]
    cases = {
        "trainer.accelerator": ["trainer.accelerator=tpu"],
        "callbacks.model_checkpoint.last_every_n_epochs": [
            "callbacks.model_checkpoint.last_every_n_epochs=0"
        ],
        "logger.tensorboard.save_dir": [
            "logger=tensorboard",
            "logger.tensorboard.save_dir=/proc/x",
        ],
        "data.synthetic.noise": ["+data.synthetic.noise=abc"],
        "optimized_metric": ["optimized_metric=val/foo"],
        "callbacks.model_checkpoint.dirpath": [
            f"callbacks.model_checkpoint.dirpath={tmp_path / 'afile' / 'x'}"
        ],
        "not a run folder": [f"hydra.run.dir={tmp_path / 'mine'}"],
        "task_name": ["task_name=../.."],
        "needs -m": ["hparams_search=optuna"],
        "did you mean model.alpha?": ["model.alhpa=1"],
        "did you mean trainer.max_epochs?": ["trainer.max_epoch=3"],
        "[image]: expected finite values": ["logger=tensorboard", f"data.path={data / 'nan.h5'}"],
        f"(found a file), got '{tmp_path / 'afile'}'": [f"hydra.run.dir={tmp_path / 'afile'}"],
    }
    cases = {key: extra for key, extra in cases.items() if chosen is None or key in chosen}
    runs = {key: start("train.py", [*base, *extra], tmp_path) for key, extra in cases.items()}
    if chosen is None:
        wiki = ["data=wiki", f"data.path={data}", "trainer=cpu", f"paths.log_dir={logs}"]
        runs["expected an HDF5 feature store file, found a folder"] = start(
            "train.py", wiki, tmp_path
        )
    return runs


def check_refused_leave_nothing(tmp_path: Path, runs: dict) -> None:
    """Exit 2, one error line with the key (or the words that say what was expected), no
    traceback; no file under logs/ or above it (task_name=../..), the user's folder and the
    stores as they were."""
    from test_run_lifecycle import finish, one_error_line

    from conftest import TINY_DATA_PARAMS
    from src.data.synthetic import store_file

    shared = Path(store_file(str(tmp_path / "data"), TINY_DATA_PARAMS))
    before = shared.read_bytes()
    for key, process in runs.items():
        status, out, err = finish(process)
        assert status == 2 and key in one_error_line(err, out, alone=False), (key, err[-2000:])
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["afile", "data/nan.h5", f"data/{shared.name}", "mine/notes.txt"], files
    assert shared.read_bytes() == before
    assert not (tmp_path / "runs").exists() and not (tmp_path / "a" / "runs").exists()


def test_the_trial_cases_end_to_end_leave_nothing(tmp_path: Path) -> None:
    """Six of the trial's cases at the command line, in parallel (all of them: the slow test
    below)."""
    check_refused_leave_nothing(tmp_path, start_refused(tmp_path, DEFAULT_CASES))


@pytest.mark.slow
def test_every_trial_case_end_to_end_leaves_nothing(tmp_path: Path) -> None:
    """The 14 cases of the trial and their kin at the command line, in parallel."""
    check_refused_leave_nothing(tmp_path, start_refused(tmp_path))


def interrupted_runs(tmp_path: Path, delays: list[float]) -> list[tuple[float, int, str, Path]]:
    """Start one tiny run per delay, send it Ctrl-C (SIGINT) after that many seconds; return
    (delay, exit status, stderr + stdout, its logs folder)."""
    import signal
    import time

    from cli_runs import TINY_ARGS, start
    from test_run_lifecycle import finish

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    runs = []
    for n, delay in enumerate(delays):
        logs = tmp_path / f"logs{n}"
        args = [
            *TINY_ARGS,
            f"paths.data_dir={data}",
            f"paths.log_dir={logs}",
            "logger=tensorboard",
        ]
        runs.append((delay, start("train.py", [*args, "trainer.max_epochs=50"], tmp_path), logs))
    began = time.monotonic()
    for delay, process, _ in sorted(runs, key=lambda run: run[0]):
        time.sleep(max(0.0, began + delay - time.monotonic()))
        process.send_signal(signal.SIGINT)
    results = []
    for delay, process, logs in runs:
        status, out, err = finish(process)
        results.append((delay, status, err + out, logs))
    return results


def check_interrupted(results: list) -> None:
    """Exit 130 and one ``error: interrupted`` line, no traceback; a run folder is left only
    once training began (health_initial.pt is written when fit starts)."""
    for delay, status, text, logs in results:
        lines = [line for line in text.splitlines() if line.startswith("error")]
        assert status == 130 and "Traceback" not in text, (delay, status, text[-2000:])
        assert len(lines) == 1 and lines[0].startswith("error: interrupted"), (delay, lines)
        runs = [p for p in logs.rglob("runs/*") if p.is_dir()] if logs.exists() else []
        for run in runs:
            assert (run / "health_initial.pt").is_file(), (delay, sorted(run.rglob("*")))


def test_ctrl_c_while_starting_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """Two runs interrupted at generated moments of their start-up (imports, composition)."""
    rng = np.random.default_rng(130)
    check_interrupted(interrupted_runs(tmp_path, sorted(rng.uniform(0.3, 6.0, 2).tolist())))


@pytest.mark.slow
def test_ctrl_c_at_any_moment_is_one_line(tmp_path: Path) -> None:
    """Eight runs interrupted at generated moments from start-up to training."""
    rng = np.random.default_rng(131)
    check_interrupted(interrupted_runs(tmp_path, sorted(rng.uniform(0.3, 90.0, 8).tolist())))


@pytest.mark.slow
def test_the_validation_metric_names_are_those_a_run_logs(tmp_path: Path) -> None:
    """A real one-epoch run: the val/ names in its results.json are `validation_metrics` of its
    model's metric settings (the list check_metric_names accepts)."""
    import hydra

    from cli_runs import TINY_ARGS, TINY_STORE, start
    from test_run_lifecycle import finish

    from src.models.agch_module import AGCHModule

    run_dir = tmp_path / "run"
    args = [*TINY_ARGS, f"paths.data_dir={tmp_path}", f"hydra.run.dir={run_dir}", "logger=none"]
    process = start("train.py", [*args, "trainer.max_epochs=1", "test=false"], tmp_path)
    status, out, err = finish(process)
    assert status == 0, err[-2000:]
    record = json.loads((run_dir / "results.json").read_text())
    logged = {name for name in record["metrics"] if name.startswith("val/")}
    model = AGCHModule(image_dim=TINY_STORE["image_dim"], text_dim=TINY_STORE["text_dim"])
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    sizes = hydra.utils.instantiate(config.data).split_sizes()
    assert logged == validation_metrics(model.val_metric, sizes["val_retrieval"])
    assert len(logged) >= 10
