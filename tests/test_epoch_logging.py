"""The loss terms' epoch values (``train/<term>``), accumulated in the module and logged once
per epoch instead of one ``self.log`` per term and batch, equal the batch-size-weighted mean
of the terms the loss function returned on the epoch's batches, recomputed here in float64."""

from collections import defaultdict
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.loggers import Logger

import src.models.djsrh_module as djsrh_module
from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule
from src.models.djsrh_module import DJSRHModule

TINY = dict(code_length=8, eval_ks=[1, 10])
NETS = {AGCHModule: dict(hidden_dim=32, gcn_dim=16), DJSRHModule: dict(hidden_dim=32)}


class EpochRecorder(Logger):
    """In-memory logger: what the loss function returned per batch (epoch, batch size, terms,
    filled by `spy`) and every logged ``train/...`` value per epoch (the trainer's logger)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, int, dict[str, float]]] = []
        self.logged: dict[int, dict[str, float]] = defaultdict(dict)

    name = "memory"
    version = "0"

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        epoch = int(metrics.get("epoch", -1))
        self.logged[epoch] |= {k: float(v) for k, v in metrics.items() if k.startswith("train/")}


def expected_means(batches: list[tuple[int, int, dict[str, float]]], epoch: int) -> dict:
    """sum_b m_b term_b / sum_b m_b over the epoch's batches, every term but the total L."""
    sums: dict[str, float] = defaultdict(float)
    count = 0
    for e, m, terms in batches:
        if e == epoch:
            count += m
            for name, value in terms.items():
                sums[name] += m * value
    return {f"train/{k}": v / count for k, v in sums.items() if k != "L"}


def spy(model: L.LightningModule, recorder: EpochRecorder, monkeypatch) -> None:
    """Record the terms of every batch as the training step accumulates them: AGCH's phase F
    (or joint) terms, DJSRH's loss."""
    if isinstance(model, AGCHModule):
        original = model._loss

        def loss(S, codes, phase):
            terms = original(S, codes, phase)
            if phase != "B":
                m = codes["B_v"].shape[0]
                recorder.batches.append(
                    (model.current_epoch, m, {k: float(v.detach()) for k, v in terms.items()})
                )
            return terms

        model._loss = loss
    else:
        original = djsrh_module.djsrh_loss

        def loss(S, B_I, B_T, *args):
            terms = original(S, B_I, B_T, *args)
            m = B_I.shape[0]
            recorder.batches.append(
                (model.current_epoch, m, {k: float(v.detach()) for k, v in terms.items()})
            )
            return terms

        monkeypatch.setattr(djsrh_module, "djsrh_loss", loss)


@pytest.mark.parametrize(
    "module_class, schedule",
    [(AGCHModule, "alternate"), (AGCHModule, "joint"), (DJSRHModule, None)],
)
def test_epoch_means_of_the_terms(
    synthetic_store: Path, tmp_path: Path, monkeypatch, module_class, schedule
) -> None:
    L.seed_everything(0)
    dm = AGCHDataModule(
        str(synthetic_store), batch_size=24, eval_batch_size=64, seed=0, drop_last=False
    )
    image_dim, text_dim = dm.feature_dims()
    extra = {} if schedule is None else {"schedule": schedule}
    model = module_class(
        image_dim=image_dim, text_dim=text_dim, **(TINY | NETS[module_class] | extra)
    )
    model.set_input_stats(dm.train_statistics())
    recorder = EpochRecorder()
    spy(model, recorder, monkeypatch)
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        logger=recorder,
        log_every_n_steps=1,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, dm)
    sizes = {m for _, m, _ in recorder.batches}
    assert len(sizes) == 2, sizes  # an uneven last batch: the mean is weighted
    assert sorted(recorder.logged) == [0, 1]
    for epoch, logged in recorder.logged.items():
        expected = expected_means(recorder.batches, epoch)
        assert len(expected) >= 3
        for name, value in expected.items():
            assert logged[name] == pytest.approx(value, rel=1e-5, abs=1e-7), (epoch, name)
            assert f"{name}_step" not in logged and f"{name}_epoch" not in logged
