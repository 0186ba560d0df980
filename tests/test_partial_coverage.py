"""A test or validation over part of its sets is not the protocol's (issue 22): under a batch
limit that cuts the query or retrieval loader short (``limit_test_batches=0.5``,
``debug=limit``, ``fast_dev_run``), results.json says "incomplete", so no report tables it.
The batches counted by `partial_coverage` are checked against Lightning's own loop."""

import random

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from src.utils.coverage import partial_coverage


class Probe(L.LightningModule):
    """Counts the batches Lightning's test loop runs per loader (an independent count)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, int] = {}
        self.layer = torch.nn.Linear(1, 1)

    def test_step(self, batch: torch.Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.seen[dataloader_idx] = self.seen.get(dataloader_idx, 0) + 1


def lightning_batches(sizes: tuple[int, int], batch: int, trainer_args: dict) -> list[int]:
    """Batches of each of two loaders (query, retrieval) that ``trainer.test`` runs."""
    probe = Probe()
    loaders = [DataLoader(torch.zeros(n, 1), batch_size=batch) for n in sizes]
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        **trainer_args,
    )
    trainer.test(probe, dataloaders=loaders, verbose=False)
    return [probe.seen.get(i, 0) for i in range(len(sizes))]


def test_a_cut_test_loop_is_named_as_lightning_runs_it() -> None:
    rng = random.Random(7)
    cases = [{"limit_test_batches": 0.5}, {"fast_dev_run": 1}, {"limit_test_batches": 1.0}]
    for _ in range(14):
        if rng.random() < 0.5:
            cases.append({"limit_test_batches": rng.choice([0.3, 0.7, 0.99, 1.0])})
        else:
            cases.append({"limit_test_batches": rng.randint(1, 6)})
    for args in cases:
        sizes, batch = (rng.randint(3, 60), rng.randint(3, 90)), rng.randint(2, 16)
        try:
            ran = lightning_batches(sizes, batch, args)
        except MisconfigurationException:  # a loop cut to 0 batches: refused before any run
            continue  # (tests/test_empty_runs.py)
        full = [-(-n // batch) for n in sizes]
        cfg = OmegaConf.create({"trainer": {"devices": 1, "num_nodes": 1, **args}})
        split_sizes = {"query": sizes[0], "retrieval": sizes[1]}
        why = partial_coverage(cfg, split_sizes, batch, ["test"])
        cut = [split for split, r, f in zip(("query", "retrieval"), ran, full) if r < f]
        assert (why is None) == (not cut), (args, sizes, batch, ran, full, why)
        if cut:
            assert f"of the {cut[0]} set" in why and "not over the protocol's sets" in why


def test_a_cut_validation_is_named_and_an_uncut_one_is_not() -> None:
    sizes = {"query": 10, "retrieval": 10, "val_query": 40, "val_retrieval": 200}
    cut = OmegaConf.create({"trainer": {"limit_val_batches": 0.5}})
    whole = OmegaConf.create({"trainer": {"limit_val_batches": 1.0, "limit_test_batches": 1}})
    assert "val_query set" in partial_coverage(cut, sizes, 8, ["test", "val"])
    assert partial_coverage(cut, sizes, 8, ["test"]) is None
    assert partial_coverage(whole, sizes, 8, ["val"]) is None
    assert "trainer.limit_test_batches=1" in partial_coverage(whole, sizes, 8, ["test"])


def test_a_partial_record_is_incomplete_and_names_why() -> None:
    from src.utils.records import record_status

    metrics, expected = {"test/map@50": 0.5}, ["test/map@50"]
    assert record_status(metrics, expected) == {"status": "completed"}
    cut = record_status(metrics, expected, "trainer.limit_test_batches=1: ...")
    assert cut == {"status": "incomplete", "error": "trainer.limit_test_batches=1: ..."}
    missing = record_status({}, expected, "trainer.limit_test_batches=1: ...")
    assert missing["status"] == "incomplete" and "test/map@50 (missing)" in missing["error"]
    assert missing["error"].startswith("trainer.limit_test_batches=1: ...; ")  # the cause first
