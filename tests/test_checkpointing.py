"""EpochEndCheckpoint: last.ckpt is the state at the end of the last epoch, also when the
monitored metric stopped improving (Lightning's own ModelCheckpoint keeps it at the best)."""

from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from src.utils.checkpointing import EpochEndCheckpoint

SCORES = [3.0, 1.0, 2.0, 1.0]  # the best epoch is the first


class Scripted(L.LightningModule):
    """Two batches per epoch; logs the scripted validation score of its epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/score", SCORES[self.current_epoch])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)), 4)

    def val_dataloader(self) -> DataLoader:
        return self.train_dataloader()


def fit(tmp_path: Path, callback_class: type, **trainer_args) -> tuple[Scripted, Path]:
    checkpoint = callback_class(
        dirpath=tmp_path,
        filename="epoch_{epoch:03d}",
        monitor="val/score",
        mode="max",
        save_last=True,
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    model = Scripted()
    trainer = L.Trainer(
        max_epochs=len(SCORES),
        callbacks=[checkpoint],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_args,
    )
    trainer.fit(model)
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
