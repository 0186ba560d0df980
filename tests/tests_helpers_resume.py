"""A one-epoch run of src/train.py's `train` per method with optimisers, on the tiny synthetic
store: its module and last.ckpt (tests/test_resume_optim.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import torch

from cli_runs import TINY_STORE
from conftest import TINY_DATA
from door import composed_run

from src.data.synthetic import make_synthetic

COMMON = [
    *TINY_DATA,
    "model.code_length=16",
    "model.eval_ks=[1]",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "logger=none",
    "extras.print_config=false",
    "extras.enforce_tags=false",
]
AGCH = ["model=agch", "model.hidden_dim=32", "model.gcn_dim=16"]
# the peers' 4,096-8,192-wide layers make checkpoints of 100+ MB that each edited case re-saves
PEER = ["model.hidden_dim=64"]
METHODS = {
    "agch_sgd": AGCH,
    "agch_adam": [*AGCH, "model.optimizer=adam"],
    "djsrh": ["model=djsrh", *PEER],
    "jdsh": ["model=jdsh", *PEER],
    "dgcpn": ["model=dgcpn", *PEER],
    "ucch": ["model=ucch", *PEER],
}
EXTRA = {"agch_warmup": [*AGCH, "model.warmup_epochs=2", "trainer.max_epochs=1"]}


def train_method(name: str, root: Path) -> dict[str, Any]:
    """Train method ``name`` (`METHODS`, `EXTRA`) one epoch under ``root``: {"model": the
    module the resume's configuration builds, "checkpoint": its last.ckpt}."""
    from src.train import train

    store = root / "tiny.h5"
    make_synthetic(store, seed=0, **TINY_STORE)
    words = [*COMMON, *{**METHODS, **EXTRA}[name], f"data.path={store}"]
    words += [f"paths.log_dir={root / 'logs'}"]
    train(composed_run(words, output_dir=str(root / "run")))
    ckpt = torch.load(root / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    hp = ckpt["hyper_parameters"]
    cfg = composed_run([*words, "trainer.max_epochs=2"], output_dir=str(root / "run"))
    model = hydra.utils.instantiate(cfg.model, image_dim=hp["image_dim"], text_dim=hp["text_dim"])
    return {"model": model, "checkpoint": ckpt}
