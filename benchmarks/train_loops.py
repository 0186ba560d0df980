"""AGCH training two ways, timed per epoch: the Lightning module, and a plain PyTorch loop.

The plain loop shares the networks and the maths (the similarity S and the graph A_hat,
Eqs. (3)-(6); the loss L, Eqs. (7)-(12), docs/method.md) with `AGCHModule`, not its training
step. Which parameters each phase updates, what is detached, the optimisers (SGD with the
per-module learning rates, momentum and weight decay) and the batch order (the DataModule's
contract: epoch e shuffles the sorted train rows with ``torch.randperm(n,
generator=torch.Generator().manual_seed(seed + e))``, the last short batch dropped) are written
out again below. Equal losses on equal batches therefore say that the module's step does what
the method says, and the time ratio of the two is what Lightning (with the module's logging
and code-collapse check) costs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import lightning as L
import numpy as np
import torch
from torch import Tensor

from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule
from src.models.losses import compute_loss, gap_weights
from src.models.similarity import aggregated_similarity, graph_adjacency


@dataclass
class Run:
    """One timed training run: wall and process CPU seconds per epoch (CPU time is what a
    single-threaded run costs whatever else shares the machine), the losses (n_batches, 2)
    float32 of phase F and phase B per batch in order, fit wall time and peak accelerator
    memory (MiB)."""

    epoch_s: list[float] = field(default_factory=list)
    epoch_cpu_s: list[float] = field(default_factory=list)
    losses: list[Tensor] = field(default_factory=list)
    wall_s: float = 0.0
    peak_mib: float | None = None

    def loss_matrix(self) -> Tensor:
        """(n_batches, 2) float32 on the CPU: [loss of phase F, loss of phase B]."""
        return torch.stack([x.float().cpu() for x in self.losses]).reshape(-1, 2)


def sync(device: torch.device) -> None:
    """Wait for the accelerator, so that wall time covers the queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _start_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


# ------------------------------------------------------------------------------ plain loop
def plain_optimizers(model: AGCHModule) -> tuple[torch.optim.SGD, torch.optim.SGD]:
    """opt_f (encoders, fusion) and opt_b (GCNs, hash layer): SGD with the module's rates."""
    hp = model.hparams
    sgd = dict(momentum=hp.momentum, weight_decay=hp.weight_decay, fused=hp.fused_optimizer)
    opt_f = torch.optim.SGD(
        [
            {"params": model.image_encoder.parameters(), "lr": hp.lr_image},
            {"params": model.text_encoder.parameters(), "lr": hp.lr_text},
            {"params": model.fusion.parameters(), "lr": hp.lr_fusion},
        ],
        **sgd,
    )
    gcn = [*model.gcn_image.parameters(), *model.gcn_text.parameters()]
    # gcn_lr_on=L2: SGD with lr_gcn and weight_decay on L2 = delta L2 / delta, written on L
    on_l2 = hp.get("gcn_lr_on", "L") == "L2" and hp.delta > 0
    gcn_step = dict(lr=hp.lr_gcn / hp.delta, weight_decay=hp.weight_decay * hp.delta)
    opt_b = torch.optim.SGD(
        [
            {"params": gcn, **(gcn_step if on_l2 else {"lr": hp.lr_gcn})},
            {"params": model.hash_layer.parameters(), "lr": hp.lr_hash},
        ],
        **sgd,
    )
    return opt_f, opt_b


def _trainable(opt: torch.optim.Optimizer, flag: bool) -> None:
    for group in opt.param_groups:
        for p in group["params"]:
            p.requires_grad_(flag)


def _codes(model: AGCHModule, f_v: Tensor, f_t: Tensor, A_hat: Tensor, phase: str) -> dict:
    """B^v, B^t, B^h, B^gv, B^gt (m, c); phase F detaches the GCN codes, phase B the fusion."""
    B_v, B_t = model.hash_layer(f_v, f_t)
    with torch.set_grad_enabled(phase == "F"):
        B_h = model.fusion(f_v, f_t)
    with torch.set_grad_enabled(phase == "B"):
        B_gv, B_gt = model.gcn_image(f_v, A_hat), model.gcn_text(f_t, A_hat)
    return dict(B_v=B_v, B_t=B_t, B_h=B_h, B_gv=B_gv, B_gt=B_gt)


def plain_step(model: AGCHModule, opts, x_v: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor]:
    """One batch x_v (m, Dv), x_t (m, Dt) of the alternating schedule; the two losses (0-dim).

    Phase F steps opt_f with opt_b's parameters frozen (the gradient passes through the hash
    layer); phase B recomputes f^v, f^t without gradient with the updated encoders and steps
    opt_b.
    """
    hp = model.hparams
    # Eqs. (3)-(5), each option named: the module passes them positionally
    options = dict(gamma_mode=hp.gamma_mode, distance=hp.distance, scale=hp.s_scale)
    S = aggregated_similarity(
        x_v, x_t, hp.gamma_v, hp.gamma_t, hp.rho, components=hp.similarity, **options
    )  # (m, m)
    A_hat = graph_adjacency(S, hp.adjacency)  # (m, m)
    z_v = (x_v - model.image_mean) / model.image_std  # (m, Dv), train-split standardisation
    z_t = (x_t - model.text_mean) / model.text_std  # (m, Dt)
    # the gap weights of Eq. (16) for this batch size (docs/model.md, "Loss scale")
    lam_gap, l2_gap = gap_weights(hp.lam, x_v.shape[0], hp.loss_scale, hp.tuned_lam_factor)
    losses = []
    for phase, opt, other in (("F", opts[0], opts[1]), ("B", opts[1], opts[0])):
        _trainable(other, False)
        with torch.set_grad_enabled(phase == "F"):
            f_v, f_t = model.image_encoder(z_v), model.text_encoder(z_t)  # (m, hidden)
        codes = _codes(model, f_v, f_t, A_hat, phase)
        terms = compute_loss(S, codes, hp.alpha, hp.beta, lam_gap, hp.delta, l2_gap)
        opt.zero_grad()
        terms["L"].backward()
        opt.step()
        _trainable(other, True)
        losses.append(terms["L"].detach())
    return losses[0], losses[1]


def train_split(path: Path) -> tuple[Tensor, Tensor]:
    """Image (n, Dv) and text (n, Dt) float32 of the store's train rows, in sorted row order."""
    with h5py.File(path, "r") as h5:
        rows = np.sort(h5["split/train"][()])
        return torch.from_numpy(h5["image"][rows]), torch.from_numpy(h5["text"][rows])


def run_plain(
    model: AGCHModule, path: Path, epochs: int, batch_size: int, seed: int, precision: str, device
) -> Run:
    """The plain loop over ``epochs`` epochs of the store's train split, on ``device``."""
    model = model.to(device).train()
    opts = plain_optimizers(model)
    x_v, x_t = (x.to(device) for x in train_split(path))
    n = x_v.shape[0]
    bf16 = precision == "bf16-mixed"
    run = Run()
    _start_memory(device)
    sync(device)
    start = time.perf_counter()
    for epoch in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
        batches = perm[: n // batch_size * batch_size].view(-1, batch_size).to(device)
        for at in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                run.losses.extend(plain_step(model, opts, x_v[at], x_t[at]))
        sync(device)
        run.epoch_s.append(time.perf_counter() - t0)
        run.epoch_cpu_s.append(time.process_time() - c0)
    run.wall_s, run.peak_mib = time.perf_counter() - start, _peak_mib(device)
    return run


# ------------------------------------------------------------------------------- Lightning
class EpochClock(L.Callback):
    """Per-epoch wall time (epoch start to next epoch start, so that the module's own epoch-end
    work counts) and the logged phase F / phase B losses of every batch."""

    def __init__(self, run: Run) -> None:
        self.run, self.t0 = run, (0.0, 0.0)

    def _lap(self, pl_module: L.LightningModule) -> None:
        sync(pl_module.device)
        now = (time.perf_counter(), time.process_time())
        if self.t0 != (0.0, 0.0):
            self.run.epoch_s.append(now[0] - self.t0[0])
            self.run.epoch_cpu_s.append(now[1] - self.t0[1])
        self.t0 = now

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._lap(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        metrics = trainer.callback_metrics
        self.run.losses.extend([metrics["train/loss_f_step"], metrics["train/loss_b_step"]])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._lap(pl_module)


def run_lightning(
    model: AGCHModule, path: Path, epochs: int, batch_size: int, seed: int, precision: str, device
) -> Run:
    """``epochs`` epochs of the Lightning module with ``device_cache`` on ``device``."""
    dm = AGCHDataModule(str(path), batch_size=batch_size, device_cache=True, seed=seed)
    run = Run()
    trainer = L.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=precision,
        callbacks=[EpochClock(run)],
    )
    _start_memory(device)
    start = time.perf_counter()
    trainer.fit(model, dm)
    sync(device)
    run.wall_s, run.peak_mib = time.perf_counter() - start, _peak_mib(device)
    return run
