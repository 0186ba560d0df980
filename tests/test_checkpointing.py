"""EpochEndCheckpoint: last.ckpt is the state at the end of the last epoch, also when the
monitored metric stopped improving (Lightning's own ModelCheckpoint keeps it at the best); a
best checkpoint of the last epoch is stored once, and only last.ckpt keeps the optimiser."""

import os
import random

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.strategies import Strategy
from torch import nn
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from src.callbacks.checkpointing import EpochEndCheckpoint
from src.models.collapse import COLLAPSED_SCORE

CHECKPOINT_CONFIG = Path(__file__).parents[1] / "configs" / "callbacks" / "model_checkpoint.yaml"

SCORES = [3.0, 1.0, 2.0, 1.0]  # the best epoch is the first


class Scripted(L.LightningModule):
    """Two batches per epoch; logs the scripted validation score of its epoch."""

    def __init__(self, scores: list[float] = SCORES) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.scores = scores
        self.weights_by_epoch: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self) -> None:
        self.weights_by_epoch.append({k: v.clone() for k, v in self.state_dict().items()})

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/score", self.scores[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)  # a state to keep

    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), 4)

    def val_dataloader(self) -> DataLoader:
        return self.train_dataloader()


class Collapsing(Scripted):
    """Logs a scripted ``val/map@50`` and the base module's ``val/objective`` rule: the score,
    or COLLAPSED_SCORE in an epoch scripted as collapsed (src/models/base.py)."""

    def __init__(self, scores: list[float], collapsed: list[bool]) -> None:
        super().__init__(scores)
        self.collapsed = collapsed

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        score = self.scores[self.current_epoch]
        self.log("val/map@50", score)
        self.log("val/objective", COLLAPSED_SCORE if self.collapsed[self.current_epoch] else score)


def fit(
    tmp_path: Path,
    callback_class: type,
    scores: list[float] = SCORES,
    ckpt_path: Path | None = None,
    monitor: str = "val/score",
    model: Scripted | None = None,
    every: int | None = None,
    **trainer_args,
) -> tuple[Scripted, Path]:
    """Fit `model` (default: Scripted(scores)) for len(scores) epochs (from `ckpt_path` if
    given), ranking checkpoints by `monitor`, last.ckpt every `every` epochs if given."""
    cadence = {} if every is None else {"last_every_n_epochs": every}
    checkpoint = callback_class(
        **cadence,
        dirpath=tmp_path,
        filename="epoch_{epoch:03d}",
        monitor=monitor,
        mode="max",
        save_last=True,
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    model = Scripted(scores) if model is None else model
    trainer = L.Trainer(
        max_epochs=len(scores),
        callbacks=[checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_args,
    )
    trainer.fit(model, ckpt_path=ckpt_path)
    assert checkpoint.last_model_path == str(tmp_path / "last.ckpt")
    return model, tmp_path / "last.ckpt"


@pytest.mark.parametrize("val_every", [1, 2])
def test_last_checkpoint_is_the_last_epoch(tmp_path: Path, val_every: int) -> None:
    model, last = fit(tmp_path, EpochEndCheckpoint, check_val_every_n_epoch=val_every)
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["epoch"] == len(SCORES) - 1
    assert saved["global_step"] == 2 * len(SCORES)
    for key, value in model.state_dict().items():
        assert torch.equal(saved["state_dict"][key], value), key
    best = sorted(p.name for p in tmp_path.glob("epoch_*.ckpt"))
    assert best == (["epoch_000.ckpt"] if val_every == 1 else ["epoch_001.ckpt"])


def test_lightning_alone_keeps_last_at_the_best_epoch(tmp_path: Path) -> None:
    """Why the subclass exists: with a monitor, Lightning's last.ckpt stops at the best epoch.
    If this starts failing after a Lightning upgrade, EpochEndCheckpoint may be unnecessary."""
    _, last = fit(tmp_path, ModelCheckpoint)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("case", range(8))
def test_best_and_last_are_stored_once_with_the_optimiser_in_last_only(
    tmp_path: Path, case: int
) -> None:
    """Generated score sequences: when the best epoch is the last one, last.ckpt is a link to
    the best file (one file on disk); otherwise the best file holds the best epoch's weights
    without optimiser state, and last.ckpt the last epoch's with it."""
    rng = random.Random(case)
    scores = [float(rng.randint(0, 3)) for _ in range(rng.randint(1, 5))]
    if case == 0:
        scores = [1.0, 2.0, 3.0]  # the best is the last epoch
    model, last = fit(tmp_path, EpochEndCheckpoint, scores)
    best_epoch = max(range(len(scores)), key=lambda e: (scores[e], -e))  # the first maximum
    best = tmp_path / f"epoch_{best_epoch:03d}.ckpt"
    files = sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink())
    saved_last = load(last)
    assert saved_last["epoch"] == len(scores) - 1 and "optimizer_states" in saved_last
    for key, value in model.weights_by_epoch[-1].items():
        assert torch.equal(saved_last["state_dict"][key], value), key
    if best_epoch == len(scores) - 1:
        assert last.is_symlink() and os.readlink(last) == best.name
        assert files == [best.name]
    else:
        assert not last.is_symlink() and files == sorted([best.name, "last.ckpt"])
        saved_best = load(best)
        assert "optimizer_states" not in saved_best and "callbacks" not in saved_best
        assert saved_best["epoch"] == best_epoch
        for key, value in model.weights_by_epoch[best_epoch].items():
            assert torch.equal(saved_best["state_dict"][key], value), key


def test_resuming_from_a_linked_last_checkpoint(tmp_path: Path) -> None:
    """last.ckpt as a link resumes like a file, and the next epoch replaces the link by a file
    of its own without touching the best file it pointed to."""
    _, last = fit(tmp_path, EpochEndCheckpoint, [1.0, 2.0])
    assert last.is_symlink()
    best = tmp_path / os.readlink(last)
    before = load(best)["state_dict"]
    fit(tmp_path, EpochEndCheckpoint, [1.0, 2.0, 0.0], ckpt_path=last)
    assert not last.is_symlink() and load(last)["epoch"] == 2
    after = load(best)
    assert "optimizer_states" not in after
    for key, value in before.items():
        assert torch.equal(after["state_dict"][key], value), key


@pytest.mark.parametrize("case", range(8))
def test_a_collapsed_epoch_is_never_the_best_checkpoint(tmp_path: Path, case: int) -> None:
    """Generated val/map@50 sequences with collapsed epochs, ranked by the configured monitor:
    the best file is the first epoch of highest mAP among the epochs that did not collapse,
    although a collapsed epoch has a higher mAP (tied codes inflate it)."""
    config = OmegaConf.load(CHECKPOINT_CONFIG).model_checkpoint
    assert config.mode == "max"
    rng = random.Random(100 + case)
    n = rng.randint(2, 5)
    scores = [rng.uniform(0.1, 0.5) for _ in range(n)]
    collapsed = [rng.random() < 0.5 for _ in range(n)]
    collapsed[rng.randrange(n)] = False  # at least one healthy epoch
    peak = rng.randrange(n)
    collapsed[peak], scores[peak] = True, 0.9  # the highest mAP is a collapse
    if all(collapsed):
        collapsed[(peak + 1) % n] = False
    model = Collapsing(scores, collapsed)
    fit(tmp_path, EpochEndCheckpoint, scores, monitor=config.monitor, model=model)
    healthy = [e for e in range(n) if not collapsed[e]]
    best_epoch = max(healthy, key=lambda e: (scores[e], -e))
    assert sorted(p.name for p in tmp_path.glob("epoch_*.ckpt")) == [
        f"epoch_{best_epoch:03d}.ckpt"
    ]
    assert load(tmp_path / "last.ckpt")["epoch"] == n - 1


@pytest.mark.parametrize("case", range(10))
def test_cadence_writes_every_n_epochs_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: int
) -> None:
    """Generated runs and cadences N: every file is written at the end of an N-th or the last
    epoch, at most one best file and one last.ckpt each time; at the end the files hold what
    they would without the cadence (the best epoch's weights, the last epoch's with the
    optimiser), and resuming from a last.ckpt of an N-th epoch ends with the same weights."""
    rng = random.Random(500 + case)
    n, every = rng.randint(1, 9), rng.randint(2, 4)
    scores = [float(rng.randint(0, 4)) for _ in range(n)]
    writes: list[tuple[int, str]] = []  # (epoch being finished, file name) per file written
    save = Strategy.save_checkpoint

    def spy(self, checkpoint, filepath, storage_options=None):
        writes.append((self.lightning_module.current_epoch, Path(filepath).name))
        return save(self, checkpoint, filepath, storage_options)

    monkeypatch.setattr(Strategy, "save_checkpoint", spy)
    torch.manual_seed(0)  # the same initial weights in every run
    model, last = fit(tmp_path / "run", EpochEndCheckpoint, scores, every=every)
    writing = {e for e in range(n) if (e + 1) % every == 0} | {n - 1}
    assert {e for e, _ in writes} <= writing
    for epoch in writing:
        names = [name for e, name in writes if e == epoch]
        assert len(names) <= 2 and names.count("last.ckpt") <= 1, names
    best_epoch = max(range(n), key=lambda e: (scores[e], -e))
    best = tmp_path / "run" / f"epoch_{best_epoch:03d}.ckpt"
    assert sorted(p.name for p in best.parent.glob("epoch_*")) == [best.name]
    for key, value in model.weights_by_epoch[best_epoch].items():
        assert torch.equal(load(best)["state_dict"][key], value), key
    saved_last = load(last)
    assert saved_last["epoch"] == n - 1 and "optimizer_states" in saved_last
    for key, value in model.weights_by_epoch[-1].items():
        assert torch.equal(saved_last["state_dict"][key], value), key
    if n > every:  # resume from the last.ckpt of the last N-th epoch before the end
        stop = max(e for e in writing if e < n - 1) + 1
        torch.manual_seed(0)
        fit(tmp_path / "part", EpochEndCheckpoint, scores[:stop], every=every)
        resumed, _ = fit(tmp_path / "part", EpochEndCheckpoint, scores, every=every,
                         ckpt_path=tmp_path / "part" / "last.ckpt")  # fmt: skip
        for key, value in model.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key


def test_cadence_must_be_a_positive_integer() -> None:
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="last_every_n_epochs"):
            EpochEndCheckpoint(last_every_n_epochs=bad)


def linked_target(last: Path) -> Path | None:
    """The file last.ckpt links to, None when it is no link."""
    return Path(os.path.realpath(last)) if last.is_symlink() else None


@pytest.mark.parametrize("case", range(24))
def test_resume_at_every_writing_epoch_keeps_last_linked_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: int
) -> None:
    """Generated runs, cadences N and every writing epoch as the point of a kill: a resumed
    run never removes the file last.ckpt links to (a news run, resumed from a last.ckpt linked
    to its epoch-30 best, removed that best when a new one came and then refused to write
    last.ckpt onto the dangling link), and ends with the files of the run never stopped: one
    best file (the first maximum; an older best file was also left behind when last.ckpt had
    linked to it) and last.ckpt with the last epoch's weights."""
    rng = random.Random(900 + case)
    every = rng.randint(2, 4)
    n = rng.randint(every + 2, 10)
    scores = [float(rng.randint(0, 4)) for _ in range(n)]
    if case < 8:  # the shape that broke: a best at a writing epoch, a higher one after it
        first = every - 1
        scores[first] = 5.0 + case
        scores[rng.randint(first + 1, n - 1)] = 20.0 + case
    remove = Strategy.remove_checkpoint

    def guarded(self, filepath):
        for last in Path(filepath).parent.glob("last.ckpt"):
            assert linked_target(last) != Path(filepath).resolve(), "removed last's target"
        return remove(self, filepath)

    monkeypatch.setattr(Strategy, "remove_checkpoint", guarded)
    torch.manual_seed(0)
    whole, _ = fit(tmp_path / "whole", EpochEndCheckpoint, scores, every=every)
    best_epoch = max(range(n), key=lambda e: (scores[e], -e))
    expected = sorted([f"epoch_{best_epoch:03d}.ckpt", "last.ckpt"])
    for stop in (e + 1 for e in range(n - 1) if (e + 1) % every == 0):
        folder = tmp_path / f"stop{stop}"
        torch.manual_seed(0)
        fit(folder, EpochEndCheckpoint, scores[:stop], every=every)
        resumed, last = fit(
            folder, EpochEndCheckpoint, scores, every=every, ckpt_path=folder / "last.ckpt"
        )
        assert sorted(p.name for p in folder.iterdir()) == expected, (stop, scores)
        assert last.resolve().is_file() and load(last)["epoch"] == n - 1
        for key, value in whole.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key
    assert sorted(p.name for p in (tmp_path / "whole").iterdir()) == expected
