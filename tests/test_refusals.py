"""Refusals that are true and leave nothing (issue 22, fresh-user trial): the last good
checkpoint found on disk, a refused run that leaves the store and the run folder as they
were, a finished run's folder not overwritten, keys added with ``+`` that nothing reads, and
messages that name the file and say what was expected. Generated cases, checked in-process
against plain re-implementations."""

import json
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from checkpoint_files import as_written
from config_snapshot import SNAPSHOT
from conftest import TINY_DATA_PARAMS

from src.data.datamodule import AGCHDataModule
from src.data.synthetic import make_synthetic, store_file
from src.report.runs import Skip, load_run
from src.utils.added_keys import check_added_key, parameters
from src.utils.composed_keys import SET_BY_THE_RUN
from src.utils.checkpoints import read_checkpoint
from src.utils.config_rules import RULES
from src.utils.errors import ConfigError, DataError
from src.utils.jobs import RUN_SCAFFOLD, drop_unused_run_dir
from src.utils.last_good import good_checkpoints, last_good_words
from src.utils.run_dirs import check_run_dir_free

ROOT = Path(__file__).resolve().parents[1]


def intact(path: Path) -> bool:
    """The reference: every zip member passes its CRC, every float tensor is finite, and it
    carries the integrity records (a 64-character digest, a dict of run settings)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                return False
        tree = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001
        return False
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif torch.is_tensor(item) and item.is_floating_point() and not item.isfinite().all():
            return False
    digest, settings = tree.get("content_sha256"), tree.get("run_settings")
    signed = isinstance(digest, str) and len(digest) == 64 and isinstance(settings, dict)
    return signed and "state_dict" in tree and "hyper_parameters" in tree


def write(path: Path, step: int, resumable: bool, fault: str) -> None:
    weights = torch.full((64,), float(step))
    if fault == "nan":
        weights[3] = float("nan")
    checkpoint = {"state_dict": {"w": weights}, "hyper_parameters": {}, "global_step": step}
    if resumable:
        checkpoint["optimizer_states"] = [{"state": {}}]
    torch.save(checkpoint if fault == "unsigned" else as_written(checkpoint), path)
    if fault == "flip":  # a byte in the middle: a member fails its CRC, or a header breaks
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))
    if fault == "cut":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_the_last_good_checkpoint_is_the_latest_intact_one_on_disk(tmp_path: Path) -> None:
    """40 generated checkpoint folders (steps, weights-only best files, a last.ckpt link,
    damaged, cut and NaN files): the named checkpoint is the one a plain loop picks, and a
    folder with no intact file is said to have none."""
    rng = np.random.default_rng(22)
    for case in range(40):
        folder = tmp_path / f"c{case}" / "checkpoints"
        folder.mkdir(parents=True)
        files = []
        for index in range(int(rng.integers(0, 4))):
            fault = str(rng.choice(["none", "none", "flip", "cut", "nan", "unsigned"]))
            path = folder / f"epoch_{index:03d}.ckpt"
            write(path, int(rng.integers(0, 50)), bool(rng.integers(0, 2)), fault)
            files.append(path)
        if files and rng.random() < 0.5:
            os.symlink(files[-1].name, folder / "last.ckpt")
            files.append(folder / "last.ckpt")
        good = [p for p in files if intact(p)]
        steps = {p: torch.load(p, weights_only=True)["global_step"] for p in good}
        words = last_good_words(folder)
        if not good:
            assert "last good checkpoint" not in words, words
            assert ("no checkpoint was written" in words) == (not files), words
            continue
        best = max(good, key=lambda p: (steps[p], p.name == "last.ckpt"))
        assert words.startswith(f"last good checkpoint: {best}"), (words, best)
        resumable = "optimizer_states" in torch.load(best, weights_only=True)
        assert ("weights only" in words) != resumable, words
        assert [g.path for g in good_checkpoints(folder)][0] == best


def test_a_damaged_zip_directory_is_called_damaged(tmp_path: Path) -> None:
    """A bit flipped anywhere in the zip directory of a checkpoint: refused with a line
    naming the file that says it is damaged (never a decoding error), or nothing changed."""
    good = tmp_path / "good.ckpt"
    write(good, 3, True, "none")
    data = good.read_bytes()
    start = data.find(b"PK\x01\x02")
    rng = np.random.default_rng(7)
    for n, position in enumerate(rng.integers(start, len(data), 60)):
        path = tmp_path / f"d{n}.ckpt"
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(damaged))
        try:
            read_checkpoint(path)
        except DataError as error:
            line = str(error)
            assert line.startswith(str(path)) and "codec" not in line, line
            assert "damaged" in line, line
            continue
        assert torch.equal(
            torch.load(path, weights_only=True)["state_dict"]["w"], torch.full((64,), 3.0)
        )


def test_a_synthetic_store_is_never_replaced_and_a_new_one_moves_in_when_accepted(
    tmp_path: Path,
) -> None:
    """A store made with other parameters at data.path is refused naming what differs, before
    anything is written; a missing one is generated beside data.path and moved in only when
    the run's checks accept it: refused, no file is left."""
    path = tmp_path / "synthetic.h5"
    make_synthetic(path, seed=0, **TINY_DATA_PARAMS)
    before = (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino)
    other = {**TINY_DATA_PARAMS, "n_train": 30, "seed": 1}
    seen = []

    def refuse(sizes: dict) -> None:
        seen.append(sizes)
        raise ConfigError("data.batch_size: refused")

    with pytest.raises(DataError, match=r"n_train 160 in the store, 30 here; seed 0 in the"):
        AGCHDataModule(path=str(path), batch_size=8, synthetic=other).prepare_data(seen.append)
    assert not seen and (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) == before
    new = tmp_path / "other.h5"
    module = AGCHDataModule(path=str(new), batch_size=8, synthetic=other)
    with pytest.raises(ConfigError):
        module.prepare_data(accept=refuse)
    assert seen and seen[0]["train"] == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.h5"]
    module.prepare_data(accept=seen.append)  # accepted: moved in
    assert module.split_sizes()["train"] == 30 and len(seen) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.h5", "synthetic.h5"]


def test_a_folder_of_only_start_up_files_is_removed(tmp_path: Path) -> None:
    """Any task's log (debug.log under the debug presets) counts as a start-up file."""
    for task in ("train", "eval", "debug", "my_task"):
        run = tmp_path / task
        (run / ".hydra").mkdir(parents=True)
        (run / f"{task}.log").write_text("x")
        names = RUN_SCAFFOLD | {f"{task}.log"}
        assert drop_unused_run_dir(run, names) and not run.exists()
        (run / "checkpoints").mkdir(parents=True)
        assert not drop_unused_run_dir(run, names) and run.exists()


def test_a_folder_holding_an_earlier_run_is_refused_unless_resumed_from_it(tmp_path) -> None:
    """Generated folders x commands: refused exactly when the folder holds results.json or a
    checkpoint and the command is not train.py resuming from a checkpoint inside it."""
    rng = np.random.default_rng(3)
    for case in range(60):
        run = tmp_path / f"r{case}"
        (run / "checkpoints").mkdir(parents=True)
        held = []
        if rng.random() < 0.4:
            (run / "results.json").write_text("{}")
            held.append("results.json")
        for name in ("last.ckpt", "epoch_004.ckpt"):
            if rng.random() < 0.4:
                (run / "checkpoints" / name).write_bytes(b"x")
                held.append(name)
        if rng.random() < 0.3:
            (run / "notes.txt").write_text("mine")
        inside = run / "checkpoints" / "last.ckpt"
        ckpt = str(rng.choice([None, str(inside), str(tmp_path / "elsewhere.ckpt")]))
        task = str(rng.choice(["train", "eval"]))
        config = OmegaConf.create(
            {
                "ckpt_path": None if ckpt == "None" else ckpt,
                "task_name": task,
                "train": task == "train",
            }
        )
        resumes = task == "train" and ckpt == str(inside)
        if held and not resumes:
            with pytest.raises(ConfigError, match=rf"^hydra\.run\.dir: {run} holds an earlier"):
                check_run_dir_free(run, config)
        else:
            check_run_dir_free(run, config)


def composed() -> dict:
    return json.loads(SNAPSHOT.read_text())["train"]["composed"]


def test_a_key_added_with_plus_must_be_read_by_something() -> None:
    """For every node of the composed configuration that builds a target: each of its
    arguments may be added, a misspelt one (and a key nothing declares) is one line naming
    it."""
    values = composed()
    nodes = [("", values)]
    targets = []
    while nodes:
        prefix, node = nodes.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                nodes.append((f"{prefix}{key}.", value))
        if isinstance(node.get("_target_"), str):
            targets.append((prefix, node["_target_"]))
    assert len(targets) >= 5
    for prefix, target in targets:
        accepted = parameters(target)
        if accepted is None:
            continue
        set_by_run = SET_BY_THE_RUN.get(prefix[:-1], ())
        for name in sorted(set(accepted) - set(set_by_run))[:5]:
            check_added_key(prefix + name, values, RULES)
        for name in set_by_run:  # the script passes it itself: +key would be replaced
            with pytest.raises(ConfigError, match=rf"^{prefix}{name}: set by the run itself"):
                check_added_key(prefix + name, values, RULES)
        with pytest.raises(ConfigError, match=rf"^{prefix}{'zz_nope'}: unknown key"):
            check_added_key(f"{prefix}zz_nope", values, RULES)
    for key in ("foo", "paths.nope", "extras.nope", "data.synthetic.nope"):
        with pytest.raises(ConfigError, match=rf"^{key}: unknown key \(added with \+\)"):
            check_added_key(key, values, RULES)
    check_added_key("data.synthetic.noise", values, RULES)


def test_a_results_json_status_of_another_type_says_what_was_expected(tmp_path) -> None:
    for status in (["completed"], None, 1, {"a": 1}, "done"):
        path = tmp_path / "results.json"
        path.write_text(json.dumps({"status": status, "dataset": "wiki"}))
        expected = r"status: expected one of \['completed', 'failed', 'incomplete'\]"
        with pytest.raises(Skip, match=expected):
            load_run(path, None)


def test_code_stats_names_a_file_that_is_not_a_codes_file(tmp_path: Path) -> None:
    from test_script_flags import script

    code_stats = script("code_stats")
    cases = {"empty": b"", "text": b"not hdf5\n", "random": bytes(range(256)) * 8}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with h5py.File(tmp_path / "partial.h5", "w") as h5:
        h5["query/codes_image"] = np.ones((2, 4), np.int8)
    with h5py.File(tmp_path / "ragged.h5", "w") as h5:
        for split, n in (("query", 2), ("retrieval", 3)):
            h5[f"{split}/codes_image"] = np.ones((n, 4), np.int8)
            h5[f"{split}/codes_text"] = np.ones((n + 1, 4), np.int8)
            h5[f"{split}/label"] = np.ones((n, 2), np.uint8)
    for path in sorted(tmp_path.iterdir()):
        with pytest.raises(DataError) as error:
            code_stats.load(path)
        assert str(error.value).startswith(str(path)) and "expected" in str(error.value)


def test_refusals_end_to_end_leave_nothing(tmp_path: Path) -> None:
    """The trial's cases at the command line, in parallel: exit 2, one error line naming the
    key or folder, no run folder left, the shared store and a finished run's files as they
    were."""
    from cli_runs import TINY_ARGS, start
    from test_run_lifecycle import finish, one_error_line

    data, logs = tmp_path / "data", tmp_path / "logs"
    data.mkdir()
    shared = Path(store_file(str(data), TINY_DATA_PARAMS))  # the store data.path names
    make_synthetic(shared, seed=0, **TINY_DATA_PARAMS)
    store = shared.read_bytes()
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "results.json").write_text('{"status": "completed"}')
    base = [*TINY_ARGS, f"paths.data_dir={data}", f"paths.log_dir={logs}", "logger=none"]
    cases = {
        "data.batch_size": ["data.synthetic.n_train=2"],
        "trainer.limit_train_batches": ["debug=limit"],
        "foo": ["+foo=1"],
        f"{finished} holds an earlier run": [f"hydra.run.dir={finished}"],
    }
    runs = {key: start("train.py", [*base, *extra], tmp_path) for key, extra in cases.items()}
    for key, process in runs.items():
        status, out, err = finish(process)
        assert status == 2 and key in one_error_line(err, out, alone=False), (key, err[-2000:])
    assert shared.read_bytes() == store
    assert sorted(p.name for p in data.iterdir()) == [shared.name]
    assert not [p for p in logs.rglob("*") if p.is_file()], list(logs.rglob("*"))
    assert sorted(p.name for p in finished.iterdir()) == ["results.json"]
