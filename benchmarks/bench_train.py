"""Training throughput of AGCHModule under Lightning against a plain PyTorch loop.

Both train the same networks (same initial weights) with the same alternating F/B schedule,
data, batch size and optimisers, side by side in one process; the ratio is Lightning's
overhead. With ``--epochs-run`` it also times whole epochs through the DataModule with
``device_cache`` (the GPU goal of issue 4: MIRFlickr-shaped data, 40 epochs at 32 bits).

    python benchmarks/bench_train.py                      # CPU, small batch count
    python benchmarks/bench_train.py --device cuda --precision bf16-mixed --batches 200
    python benchmarks/bench_train.py --device cuda --epochs-run 40 --precision bf16-mixed

The data is generated (MIRFlickr-shaped: 4096-d image features, 1,386-d binary text); it is
not MIRFlickr.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from src.data.datamodule import AGCHDataModule
from src.data.synthetic import make_synthetic
from src.models.agch_module import AGCHModule
from src.models.losses import compute_loss


def plain_step(model: AGCHModule, opts: list[torch.optim.Optimizer], x_v, x_t) -> float:
    """One batch of the alternating schedule without Lightning (same maths as the module)."""
    hp = model.hparams
    S, A_hat = model._similarity(x_v, x_t)
    groups = [
        [
            *model.image_encoder.parameters(),
            *model.text_encoder.parameters(),
            *model.fusion.parameters(),
        ],
        [
            *model.gcn_image.parameters(),
            *model.gcn_text.parameters(),
            *model.hash_layer.parameters(),
        ],
    ]
    for phase in (0, 1):
        for i, group in enumerate(groups):
            for p in group:
                p.requires_grad_(i == phase)
        with torch.set_grad_enabled(phase == 0):
            f_v, f_t = model.features(x_v, x_t)
            B_h = model.fusion(f_v, f_t)
        B_v, B_t = model.hash_layer(f_v, f_t)
        with torch.set_grad_enabled(phase == 1):
            B_gv, B_gt = model.gcn_image(f_v, A_hat), model.gcn_text(f_t, A_hat)
        codes = dict(B_v=B_v, B_t=B_t, B_h=B_h, B_gv=B_gv, B_gt=B_gt)
        loss = compute_loss(S, codes, hp.alpha, hp.beta, hp.lam, hp.delta)["L"]
        if not torch.isfinite(loss):
            raise RuntimeError("non-finite loss")
        opts[phase].zero_grad()
        loss.backward()
        opts[phase].step()
    for group in groups:
        for p in group:
            p.requires_grad_(True)
    return float(loss)


def time_plain(model: AGCHModule, data: tuple[torch.Tensor, ...], args) -> float:
    """Samples per second of the plain loop over ``args.batches`` batches (after warm-up)."""
    device = torch.device(args.device)
    model = model.to(device)
    opts = model.configure_optimizers()
    x_v, x_t = (d.to(device) for d in data)
    m = args.batch_size
    autocast = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16-mixed"
    )
    with autocast:
        for step in range(args.warmup + args.batches):
            if step == args.warmup:
                _sync(device)
                start = time.perf_counter()
            i = (step * m) % (x_v.shape[0] - m)
            plain_step(model, opts, x_v[i : i + m], x_t[i : i + m])
    _sync(device)
    return args.batches * m / (time.perf_counter() - start)


class Timer(L.Callback):
    """Wall time from the first measured batch to the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.count = warmup, 0.0, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.count == self.warmup:
            _sync(pl_module.device)
            self.start = time.perf_counter()
        self.count += 1

    def on_train_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self.elapsed = time.perf_counter() - self.start


def time_lightning(model: AGCHModule, dm: AGCHDataModule, args) -> float:
    timer = Timer(args.warmup)
    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=args.warmup + args.batches,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=args.precision,
        callbacks=[timer],
        num_sanity_val_steps=0,
    )
    trainer.fit(model, dm)
    return args.batches * args.batch_size / timer.elapsed


def epochs_run(store: Path, image_dim: int, text_dim: int, args) -> None:
    """Whole epochs through the DataModule with device_cache: the end-to-end training time."""
    dm = AGCHDataModule(str(store), batch_size=args.batch_size, device_cache=True)
    model = AGCHModule(image_dim, text_dim, code_length=args.bits)
    model.set_input_stats(dm.train_statistics())
    trainer = L.Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        max_epochs=args.epochs_run,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=args.precision,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(model, dm)
    _sync(model.device)
    elapsed = time.perf_counter() - start
    print(
        f"{args.epochs_run} epochs of {dm.info.split_sizes['train']} pairs at {args.bits} "
        f"bits, device_cache, {args.precision}: {elapsed:.1f} s"
    )


def _sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=30, help="measured batches per side")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--image-dim", type=int, default=4096)
    parser.add_argument("--text-dim", type=int, default=1386)
    parser.add_argument("--repeats", type=int, default=2, help="alternate the two sides")
    parser.add_argument("--epochs-run", type=int, default=0)
    args = parser.parse_args()
    torch.set_flush_denormal(True)

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.h5"
        n = args.n_train + 400
        make_synthetic(
            store,
            n_items=n,
            n_query=200,
            n_train=args.n_train,
            n_val=200,
            image_dim=args.image_dim,
            text_dim=args.text_dim,
            n_classes=24,
        )
        dm = AGCHDataModule(str(store), batch_size=args.batch_size, device_cache=True)
        dm.setup("fit")
        batch = next(iter(dm.train_dataloader()))
        print(
            f"device {args.device}, precision {args.precision}, batch {args.batch_size}, "
            f"{args.bits} bits, image {args.image_dim}-d, text {args.text_dim}-d, "
            f"torch {torch.__version__}, threads {torch.get_num_threads()} (generated data)"
        )
        L.seed_everything(0)
        base = AGCHModule(args.image_dim, args.text_dim, code_length=args.bits)
        base.set_input_stats(dm.train_statistics())
        rows = []
        for repeat in range(args.repeats):
            # alternate which side runs first, so drifting load does not favour one side
            if repeat % 2 == 0:
                plain = time_plain(copy.deepcopy(base), _stack(dm, args), args)
                light = time_lightning(copy.deepcopy(base), dm, args)
            else:
                light = time_lightning(copy.deepcopy(base), dm, args)
                plain = time_plain(copy.deepcopy(base), _stack(dm, args), args)
            rows.append((plain, light))
            print(
                f"plain loop {plain:8.1f} samples/s | Lightning {light:8.1f} samples/s | "
                f"Lightning/plain {light / plain:.3f} (overhead {100 * (1 - light / plain):.1f} %)"
            )
        plain = max(r[0] for r in rows)
        light = max(r[1] for r in rows)
        print(
            f"best of {args.repeats}: plain {plain:.1f}, Lightning {light:.1f} samples/s, "
            f"overhead {100 * (1 - light / plain):.1f} %"
        )
        if args.epochs_run:
            epochs_run(store, args.image_dim, args.text_dim, args)
        del batch


def _stack(dm: AGCHDataModule, args) -> tuple[torch.Tensor, torch.Tensor]:
    """The first (warmup + batches) training batches, concatenated in the loader's order."""
    xs, ts = [], []
    for i, (x_v, x_t, _, _) in enumerate(dm.train_dataloader()):
        if i >= args.warmup + args.batches + 1:
            break
        xs.append(x_v.cpu())
        ts.append(x_t.cpu())
    return torch.cat(xs), torch.cat(ts)


if __name__ == "__main__":
    main()
