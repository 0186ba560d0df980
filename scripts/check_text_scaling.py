"""Does AGCH with the MIRFlickr defaults train without collapse on MIRFlickr's real binary tags?

The text side is the real tag matrix (mirflickr25k-yall.mat, YAll 20015 x 1386, 0/1); the
image side is GENERATED STAND-IN features (no MIRFlickr images or image features are used or
claimed): non-negative like fc7, relu(Y P / sqrt(tags) + noise) with a seeded Gaussian P, so
that they correlate with the tags. A seeded random subset of ``--n-train`` items is the train
set; the model of ``experiment=mirflickr_agch_32bit`` (the MIRFlickr defaults) trains on it
for ``--epochs`` epochs under each ``model.text_norm``; the printed table gives the encoder
input scale of the text and, after training, the fraction of distinct codes and the bit
balance (1 - mean_k |mean_i b_ik|: 1 balanced, 0 constant bits) of the train items' codes.

    python scripts/check_text_scaling.py --tags ../shared/data/mirflickr/mirflickr25k-yall.mat

(docs/model.md, "Encoder inputs", records its output.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from src.data.statistics import STD_EPS  # noqa: E402
from src.data.matlab import load_mat  # noqa: E402
from src.models.collapse import code_statistics  # noqa: E402
from src.utils.errors import (  # noqa: E402
    check_at_most,
    ArgumentParser,
    existing_path,
    integer_at_least,
    one_line_errors,
)

TEXT_NORMS = ("standardize", "none", "l2", "rms")

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def stand_in_images(tags: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """GENERATED stand-in image features (n, dim), float32, non-negative, tag-correlated."""
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((tags.shape[1], dim)).astype(np.float32)  # (K, dim)
    scale = np.sqrt(np.maximum(tags.sum(axis=1, keepdims=True), 1.0))  # (n, 1)
    noise = rng.standard_normal((tags.shape[0], dim)).astype(np.float32)
    return np.maximum(tags @ P / scale + noise, 0.0)  # (n, dim)


def input_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature mean and population std, std 1 where constant (as the datamodule does)."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    return {"mean": mean, "std": np.where(std < STD_EPS, 1.0, std).astype(np.float32)}


def train_one(cfg, x_v: np.ndarray, x_t: np.ndarray, text_norm: str, args) -> dict:
    """Train the configured model on (x_v, x_t); the text input scale and code statistics."""
    L.seed_everything(args.seed, workers=True)
    model = instantiate(
        cfg.model, image_dim=x_v.shape[1], text_dim=x_t.shape[1], text_norm=text_norm
    )
    sv, st = input_stats(x_v), input_stats(x_t)
    model.set_input_stats(
        {"image_mean": sv["mean"], "image_std": sv["std"]}
        | {"text_mean": st["mean"], "text_std": st["std"]}
    )
    tv, tt = torch.from_numpy(x_v), torch.from_numpy(x_t)
    inputs = model.normalise_inputs(tv, tt)[1]  # (n, K): the text encoder's input
    n = tv.shape[0]
    data = TensorDataset(tv, tt, torch.arange(n), torch.zeros(n, dtype=torch.long))
    loader = DataLoader(data, batch_size=cfg.data.batch_size, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        max_epochs=args.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, loader)
    model.eval()
    b_v, b_t = model.encode(tv, tt)  # (n, c) each
    (dv, bv), (dt, bt) = code_statistics(b_v), code_statistics(b_t)
    return {
        "text_norm": text_norm,
        "max_abs": float(inputs.abs().max()),
        "row_norm": float(inputs.norm(dim=1).median()),
        "distinct": (dv, dt),
        "balance": (bv, bt),
    }


def build_parser() -> argparse.ArgumentParser:
    """The flags; a bad one is one ``error:`` line and exit 2 (src/utils/errors.py)."""
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tags", type=existing_path("file"), required=True, help="mirflickr25k-yall.mat"
    )
    parser.add_argument("--n-train", type=integer_at_least(2), default=5000)  # pairs need 2
    parser.add_argument("--epochs", type=integer_at_least(1), default=3)
    parser.add_argument(
        "--image-dim", type=integer_at_least(1), default=512, help="stand-in feature width"
    )
    parser.add_argument("--seed", type=integer_at_least(0), default=0)
    parser.add_argument("--text-norm", nargs="+", default=list(TEXT_NORMS), choices=TEXT_NORMS)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    with one_line_errors(SCRIPT):  # a missing or unreadable file: one "error:" line, exit 2
        tags = load_mat(args.tags, "YAll").astype(np.float32)  # (20015, 1386), 0/1
        check_at_most("--n-train", args.n_train, tags.shape[0], "the items of YAll", args.tags)
    rows = np.sort(np.random.default_rng(args.seed).permutation(tags.shape[0])[: args.n_train])
    x_t = tags[rows]  # (n_train, 1386): real tags
    x_v = stand_in_images(x_t, args.image_dim, args.seed)  # (n_train, image_dim): generated
    bound = np.unique(x_t, axis=0).shape[0] / len(rows)  # identical tag sets share a text code
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train.yaml", overrides=["experiment=mirflickr_agch_32bit"])
    print(f"real tags {tags.shape}, train subset {len(rows)}, {args.epochs} epochs, seed "
          f"{args.seed}; image side: GENERATED stand-ins ({args.image_dim}-d); distinct tag "
          f"vectors {bound:.3f} (the most distinct text codes can reach)")  # fmt: skip
    print("| text_norm | max abs text input | median row norm | distinct codes I / T "
          "| bit balance I / T |\n|---|---|---|---|---|")  # fmt: skip
    for text_norm in args.text_norm:
        r = train_one(cfg, x_v, x_t, text_norm, args)
        print(f"| {text_norm} | {r['max_abs']:.1f} | {r['row_norm']:.2f} | "
              f"{r['distinct'][0]:.3f} / {r['distinct'][1]:.3f} | "
              f"{r['balance'][0]:.3f} / {r['balance'][1]:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
