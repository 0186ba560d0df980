"""Training cut short is not the configured model (issue 22): ``debug=fdr`` recorded
"completed" after one training batch. `partial_training` must name every fit that trained
fewer batches than its schedule and no other; the oracle is an independent count of the
training steps Lightning's own loop ran, against len(loader) x max_epochs."""

import json
import random
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from src.utils.coverage import partial_training


class Counter(L.LightningModule):
    """Counts the training steps the loop runs (over every fit of this module, resumes
    included when it is restored from a checkpoint of the same count)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.steps = 0

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self.steps += 1
        loss = self.layer(batch).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", self.layer(batch).pow(2).mean())

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("test/loss", self.layer(batch).pow(2).mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(args: dict, n: int, batch: int, tmp: Path, **extra) -> tuple[L.Trainer, Counter]:
    model, loader = Counter(), DataLoader(torch.ones(n, 1), batch_size=batch)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp,
        **args,
        **extra,
    )
    trainer.fit(model, loader, loader)
    return trainer, model


def config(args: dict) -> OmegaConf:
    return OmegaConf.create({"trainer": {"devices": 1, "num_nodes": 1, **args}})


def test_a_fit_is_partial_exactly_when_it_trained_less_than_its_schedule(tmp_path: Path):
    rng = random.Random(11)
    cases = [{"fast_dev_run": True}, {"overfit_batches": 1}, {"limit_train_batches": 0.5}]
    cases += [{"max_steps": 5}, {"limit_train_batches": 1.0}, {}]
    for _ in range(14):
        case = {}
        if rng.random() < 0.5:
            case["limit_train_batches"] = rng.choice([0.5, 0.99, 1.0, 2, 3, 50])
        if rng.random() < 0.4:
            case["max_steps"] = rng.randint(1, 30)
        cases.append(case)
    for case in cases:
        n, batch, epochs = rng.randint(4, 40), rng.randint(1, 8), rng.randint(1, 3)
        args = {"max_epochs": epochs, **case}
        trainer, model = fit(args, n, batch, tmp_path)
        schedule = -(-n // batch) * epochs  # len(loader) x max_epochs
        cut = case.get("fast_dev_run") or case.get("overfit_batches") or model.steps < schedule
        why = partial_training(config(args), trainer)
        assert (why is None) == (not cut), (args, n, batch, model.steps, schedule, why)
        if why is not None and not (case.get("fast_dev_run") or case.get("overfit_batches")):
            key = "limit_train_batches" if "each training epoch" in why else "max_epochs"
            assert f"trainer.{key}=" in why, why


def test_early_stopping_and_an_open_schedule_are_not_partial(tmp_path: Path):
    stop = EarlyStopping(monitor="val/loss", patience=0, min_delta=1e9, mode="min")
    trainer, model = fit({"max_epochs": 6}, 8, 2, tmp_path, callbacks=[stop])
    assert model.steps < 4 * 6 and partial_training(config({"max_epochs": 6}), trainer) is None
    args = {"max_epochs": -1, "max_steps": 7}
    trainer, _ = fit(args, 8, 2, tmp_path)
    assert partial_training(config(args), trainer) is None


def test_a_resumed_fit_counts_the_batches_before_the_resume(tmp_path: Path):
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    loader = DataLoader(torch.ones(10, 1), batch_size=3)  # 4 batches per epoch
    first = L.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, callbacks=[saver])
    first.fit(Counter(), loader, loader)
    args = {"max_epochs": 5}
    second = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False, **args)
    model = Counter()
    second.fit(model, loader, loader, ckpt_path=str(tmp_path / "last.ckpt"))
    assert model.steps == 3 * 4  # only the last three epochs ran in this process
    assert partial_training(config(args), second) is None
    cut = L.Trainer(
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        max_epochs=5,
        max_steps=14,
    )
    cut.fit(Counter(), loader, loader, ckpt_path=str(tmp_path / "last.ckpt"))
    why = partial_training(config({"max_epochs": 5, "max_steps": 14}), cut)
    assert why is not None and "14 of the 20 training batches" in why and "max_steps=14" in why


@pytest.mark.parametrize(
    "cut, why",
    [
        (["+trainer.limit_train_batches=2"], "each training epoch ran 2 of the 5"),
        # AGCH steps both optimisers per batch: 14 steps = epoch 1 (validated) + 2 batches
        (["trainer.max_epochs=2", "+trainer.max_steps=14"], "7 of the 10 training batches"),
    ],
)
def test_train_py_records_a_cut_fit_incomplete_when_it_tests_too(
    tmp_path: Path, cut: list[str], why: str
) -> None:
    """End to end with the default test=true: a test after the fit dropped the trainer's train
    loader, and the check silently passed (trial 29: max_steps, limit_train_batches and
    max_time cuts recorded "completed"). 160 training pairs in batches of 32: 5 batches."""
    from cli_runs import TINY_ARGS, start

    run = tmp_path / "run"
    args = [*TINY_ARGS, "trainer.max_epochs=1", "logger=none", f"hydra.run.dir={run}", *cut]
    # (a later trainer.max_epochs in `cut` wins)
    process = start("train.py", args, tmp_path)
    _, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-2000:]
    record = json.loads((run / "results.json").read_text())
    assert "test/i2t_map@50" in record["metrics"]  # it tested after the fit
    assert record["status"] == "incomplete" and why in record["error"], record.get("error")
    assert "status incomplete" in err


def test_the_check_is_loud_once_a_test_dropped_the_train_loader(tmp_path: Path):
    trainer, _ = fit({"max_epochs": 1}, 8, 2, tmp_path)
    assert partial_training(config({"max_epochs": 1}), trainer) is None
    trainer.test(Counter(), DataLoader(torch.ones(4, 1)), verbose=False)
    with pytest.raises(RuntimeError, match="after fit"):
        partial_training(config({"max_epochs": 1}), trainer)
