"""End-to-end: train.py on tiny synthetic data, eval.py with code export, one-line errors."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from checkpoint_files import as_written
from conftest import TINY_DATA

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
CODE_LENGTH = 16
# small networks keep a CPU epoch and its checkpoints small
TINY_MODEL = [f"model.code_length={CODE_LENGTH}", "++model.hidden_dim=64", "++model.gcn_dim=32"]
QUIET = ["extras.print_config=false", "extras.enforce_tags=false", "trainer=cpu"]
RESULT_KEYS = {
    "task_name",
    "dataset",
    "synthetic",
    "method",
    "code_length",
    "seed",
    "val_mode",
    "git_commit",
    "command",
    "overrides",
    "variant",
    "settings",
    "status",
    "metrics",
    "best_metrics",
    "best_ckpt_path",
    "last_ckpt_path",
    "checkpoint_files",
    "image_dim",
    "text_dim",
    "feature_extractor",
    "timing",
}


def compose_run(name: str, overrides: list[str], run_dir: Path) -> DictConfig:
    """Compose a config as Hydra would for a run writing into `run_dir`."""
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(run_dir)
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run dir, data file) of one tiny training run."""
    from src.train import train

    tmp = tmp_path_factory.mktemp("train")
    data = tmp / "tiny.h5"
    overrides = [f"data.path={data}", *TINY_DATA, *TINY_MODEL, *QUIET]
    overrides += ["trainer.max_epochs=1", "logger=csv"]
    cfg = compose_run("train.yaml", overrides, tmp / "run")
    with pytest.MonkeyPatch.context() as patch:
        commit_changes_when_called(patch, "src.train._fit")
        metrics, _ = train(cfg)
    assert "val/map@50" in metrics and "test/map@50" in metrics
    return tmp / "run", data


def commit_changes_when_called(patch: pytest.MonkeyPatch, target: str) -> None:
    """Fake the checkout's commit: "at-start" until `target` runs, "later" from then on, as
    when a commit lands while a run trains (results.json must name the code it started with)."""
    module_name, name = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    state = {"commit": "at-start"}
    original = getattr(module, name)

    def flip(*args: Any, **kwargs: Any) -> Any:
        state["commit"] = "later"
        return original(*args, **kwargs)

    patch.setattr(module, name, flip)
    for where in ("src.train", "src.eval"):  # the entry points read the commit
        patch.setattr(importlib.import_module(where), "git_commit", lambda: state["commit"])


def fit_one_epoch(model: Any, datamodule: Any, ckpt: Path) -> Path:
    """Fit `model` for one epoch with a bare Trainer and save its checkpoint to `ckpt` as
    train.py's trainer does (the run's settings and the content digest in it)."""
    import lightning as L

    from checkpoint_files import settings_of
    from src.callbacks.checkpoint_io import use_atomic_checkpoint_io

    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=ckpt.parent,
    )
    use_atomic_checkpoint_io(trainer)
    model.run_settings = settings_of(datamodule)
    trainer.fit(model, datamodule)
    trainer.save_checkpoint(ckpt)
    return ckpt


def test_train_writes_results_and_checkpoints(trained: tuple[Path, Path]) -> None:
    run, _ = trained
    results = json.loads((run / "results.json").read_text())
    assert set(results) == RESULT_KEYS
    assert results["synthetic"] is True
    assert results["code_length"] == CODE_LENGTH
    assert results["seed"] == 0
    assert results["method"] == "agch" and results["git_commit"] == "at-start"
    settings = results["settings"]  # the resolved values, overridden or not
    assert settings["model.code_length"] == CODE_LENGTH and settings["model.lr_image"] == 1e-2
    assert settings["model.gcn_bias"] == "none" and settings["trainer.max_epochs"] == 1
    assert not any(key.endswith((".path", ".seed", ".num_workers")) for key in settings)
    metrics = results["metrics"]
    for name in ("val/map@50", "val/i2t_map@50", "val/t2i_map@50", "test/map@50"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["test/map@50"] == pytest.approx(
        (metrics["test/i2t_map@50"] + metrics["test/t2i_map@50"]) / 2
    )
    # one epoch: the best checkpoint is the last one, so it is not tested twice
    assert results["best_metrics"] is None and results["best_ckpt_path"] is None
    assert Path(results["last_ckpt_path"]) == run / "checkpoints" / "last.ckpt"
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_results_name_the_store_widths_and_the_time(trained: tuple[Path, Path]) -> None:
    """results.json records the store's feature widths and extractor as the file holds them
    (read here with h5py), and the run's wall-clock time: its phases within the total."""
    import torch

    run, data = trained
    results = json.loads((run / "results.json").read_text())
    with h5py.File(data, "r") as h5:
        widths = h5["image"].shape[1], h5["text"].shape[1]
        extractor = str(h5.attrs["feature_extractor"])
    assert (results["image_dim"], results["text_dim"]) == widths
    assert results["feature_extractor"] == extractor
    timing = results["timing"]
    assert set(timing) == {"total_s", "fit_s", "test_s", "resumed", "device", "threads"}
    assert 0 < timing["fit_s"] and 0 < timing["test_s"]
    assert timing["fit_s"] + timing["test_s"] <= timing["total_s"] + 0.1  # rounded to 0.1 s
    assert timing["resumed"] is False and timing["device"] == "cpu"
    assert timing["threads"] == torch.get_num_threads()


def test_curves_json_does_not_need_the_configured_callbacks(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """curves.json comes from the test metric, not from a figure callback: `callbacks=none`
    writes the same curves as the default callbacks for the same seed."""
    from src.train import train

    run, data = trained
    overrides = [f"data.path={data}", *TINY_DATA, *TINY_MODEL, *QUIET, "trainer.max_epochs=1"]
    cfg = compose_run("train.yaml", overrides + ["logger=none", "callbacks=none"], tmp_path)
    train(cfg)
    alone = json.loads((tmp_path / "curves.json").read_text())
    assert alone == json.loads((run / "curves.json").read_text())
    # P@k at k >= the retrieval set size is the fraction of relevant items (a plain loop)
    from src.data.store import read_split

    with h5py.File(data, "r") as h5:
        labels = h5["label"][:].astype(bool)
    query, retrieval = read_split(data, "query"), read_split(data, "retrieval")
    relevant = [np.mean([(labels[q] & labels[r]).any() for r in retrieval]) for q in query]
    curve = alone["test"]["i2t"]
    k_all = [i for i, k in enumerate(curve["ks"]) if k >= len(retrieval)]
    assert k_all, curve["ks"]
    assert curve["p@k"][k_all[0]] == pytest.approx(np.mean(relevant), abs=1e-5)


def test_eval_exports_codes(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from src.data.store import read_split
    from src.eval import evaluate

    run, data = trained
    overrides = [f"data.path={data}", *TINY_DATA, *QUIET, "export_codes=true"]
    overrides += [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"]
    cfg = compose_run("eval.yaml", overrides, tmp_path)
    metrics, _ = evaluate(cfg)
    assert 0.0 <= metrics["test/map@50"] <= 1.0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["metrics"] == pytest.approx(metrics)
    with h5py.File(tmp_path / "codes.h5", "r") as h5:
        for split in ("query", "retrieval"):
            index = h5[f"{split}/index"][:]
            np.testing.assert_array_equal(np.sort(index), np.sort(read_split(data, split)))
            label = h5[f"{split}/label"][:]
            assert label.dtype == np.uint8 and label.shape[0] == index.size
            assert set(np.unique(label)) <= {0, 1}
            for modality in ("image", "text"):
                codes = h5[f"{split}/codes_{modality}"][:]
                assert codes.dtype == np.int8 and codes.shape == (index.size, CODE_LENGTH)
                assert set(np.unique(codes)) <= {-1, 1}


def test_non_finite_loss_names_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.models.agch_module import AGCHModule
    from src.train import train
    from src.utils import TrainingError

    original = AGCHModule.training_step

    def fail_in_second_epoch(self: AGCHModule, batch: tuple, batch_idx: int) -> None:
        if self.current_epoch == 1:
            raise TrainingError("non-finite loss at epoch 1")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(AGCHModule, "training_step", fail_in_second_epoch)
    overrides = [f"data.path={tmp_path / 'tiny.h5'}", *TINY_DATA, *TINY_MODEL, *QUIET]
    every = "callbacks.model_checkpoint.last_every_n_epochs=1"  # last.ckpt after epoch 0
    cfg = compose_run(
        "train.yaml", overrides + ["trainer.max_epochs=3", "logger=none", every], tmp_path
    )
    last = tmp_path / "checkpoints" / "last.ckpt"
    with pytest.raises(TrainingError, match=f"last good checkpoint: {last}"):
        train(cfg)
    assert last.is_file()


def run_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run src/train.py in a subprocess with its run directory in tmp_path."""
    command = [sys.executable, str(ROOT / "src" / "train.py"), *args]
    command += [f"hydra.run.dir={tmp_path / 'run'}", "logger=none", *QUIET]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The lines of stderr, all of them error lines: nothing else (a traceback, Lightning's
    "Seed set to 0") may be printed there."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert all(line.startswith("error:") for line in lines), result.stderr
    return lines


def test_bad_override_is_one_line(tmp_path: Path) -> None:
    data = [f"data.path={tmp_path / 'tiny.h5'}", *TINY_DATA]
    result = run_cli([*data, "model.code_length=-3"], tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result)
    assert "code_length" in line


def test_missing_data_names_the_prepare_command(tmp_path: Path) -> None:
    result = run_cli(["data=wiki", "data.path=/nonexistent.h5"], tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result)
    assert "prepare_data.py" in line and "/nonexistent.h5" in line


def test_eval_rebuilds_the_method_that_wrote_the_checkpoint(synthetic_store, tmp_path: Path):
    """eval.py evaluates DJSRH and CCA-ITQ checkpoints as what they are (the class the
    checkpoint names, or for checkpoints without that entry the one method whose constructor
    takes every saved hyper-parameter), and says in one line when it cannot tell."""
    from src.data.datamodule import AGCHDataModule
    from src.eval import load_model
    from src.models.base import MODULE_CLASS_KEY
    from src.models.cca_itq import CCAITQModule
    from src.models.djsrh_module import DJSRHModule
    from src.utils import ConfigError

    dm = AGCHDataModule(str(synthetic_store), batch_size=16, eval_batch_size=64)
    dims = dm.feature_dims()
    for cls, args in ((DJSRHModule, dict(hidden_dim=16)), (CCAITQModule, {})):
        model = cls(*dims, code_length=8, eval_ks=[1], **args)
        model.set_input_stats(dm.train_statistics())
        path = fit_one_epoch(model, dm, tmp_path / f"{cls.__name__}.ckpt")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        assert saved[MODULE_CLASS_KEY] == f"{cls.__module__}.{cls.__qualname__}"
        loaded = load_model(str(path), *dims)
        assert type(loaded) is cls
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        del saved[MODULE_CLASS_KEY]  # no class named: the method is told by its hyper-parameters
        saved = as_written(saved)
        torch.save(saved, path)
        assert type(load_model(str(path), *dims)) is cls
        saved["hyper_parameters"]["no_such_setting"] = 1
        torch.save(as_written(saved), path)
        with pytest.raises(ConfigError, match=r"^ckpt_path: .*cannot tell which method") as err:
            load_model(str(path), *dims)
        assert "\n" not in str(err.value)


def test_eval_results_name_the_checkpoints_method_and_the_starting_commit(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """eval.py's results.json says "djsrh" for a DJSRH checkpoint (it said "agch" for every
    checkpoint) and names the commit read when the evaluation started."""
    from src.data.datamodule import AGCHDataModule
    from src.eval import evaluate
    from src.models.djsrh_module import DJSRHModule

    _, data = trained
    dm = AGCHDataModule(str(data), batch_size=16, eval_batch_size=64)
    model = DJSRHModule(
        *dm.feature_dims(), code_length=CODE_LENGTH, hidden_dim=16, eval_ks=[1], lr_image=0.02
    )
    model.set_input_stats(dm.train_statistics())
    ckpt = fit_one_epoch(model, dm, tmp_path / "djsrh.ckpt")
    overrides = [f"data.path={data}", *TINY_DATA, *QUIET, f"ckpt_path={ckpt}"]
    cfg = compose_run("eval.yaml", overrides, tmp_path / "eval")
    with pytest.MonkeyPatch.context() as patch:
        commit_changes_when_called(patch, "src.eval.load_model")
        evaluate(cfg)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["method"] == "djsrh" and results["code_length"] == CODE_LENGTH
    assert results["git_commit"] == "at-start"
    # the settings are the checkpoint's, not those of eval.py's model config (AGCH, 1e-2)
    settings = results["settings"]
    assert settings["model.lr_image"] == 0.02 and settings["model.hidden_dim"] == 16
    assert "model.gcn_bias" not in settings and settings["data.batch_size"] == cfg.data.batch_size
