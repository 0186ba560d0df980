"""Diagnostics of exported hash codes (eval.py export_codes=true): how far the image and text
codes of the same item agree, on the retrieval (training) items and on unseen queries, and
mAP@k within and across modalities. A large gap between the two agreements says the encoders
memorised the training pairs; T->I close to T->T says text queries find images through codes
the image branch learnt to copy from text, so T->I is bounded by the text side.

    python scripts/code_stats.py logs/eval/runs/<run>/codes.h5 [more codes.h5] [--topk 50]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's src, not another installed one

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from src.metrics.functional import mean_average_precision  # noqa: E402
from src.models.base import code_statistics  # noqa: E402
from src.utils.errors import (  # noqa: E402
    check_at_most,
    ArgumentParser,
    DataError,
    existing_path,
    integer_at_least,
    one_line_errors,
)

EXPECTED = "expected a codes file of src/eval.py export_codes=true"
MODALITIES = ("image", "text")
SPLITS = ("query", "retrieval")

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """codes_image, codes_text (n, c) in {-1, +1} and label (n, L) of both splits. Raises
    DataError naming the file (and the dataset) when it is not an HDF5 file, lacks a dataset
    or holds one of another shape than src/eval.py export_codes=true writes."""
    try:
        with h5py.File(path, "r") as h5:
            out = {split: _split(h5, path, split) for split in SPLITS}
    except OSError as err:  # not HDF5, truncated, unreadable
        reason = " ".join(str(err).split())[:160]
        raise DataError(path, None, f"{EXPECTED}; cannot read it as HDF5 ({reason})") from err
    widths = {a.shape[1] for part in out.values() for k, a in part.items() if k != "label"}
    if len(widths) != 1 or out["query"]["label"].shape[1] != out["retrieval"]["label"].shape[1]:
        raise DataError(path, None, f"{EXPECTED}; its code or label widths differ")
    return out


def checked_load(path: Path, topk: int) -> dict[str, dict[str, np.ndarray]]:
    """`load`, and --topk checked against the file's retrieval items: mAP@k over more items
    than there are is another metric (mAP@all), so it is refused, never capped."""
    codes = load(path)
    n_items = codes["retrieval"]["label"].shape[0]
    check_at_most("--topk", topk, n_items, "the retrieval items of this file", path)
    return codes


def _split(h5: h5py.File, path: Path, split: str) -> dict[str, np.ndarray]:
    """The codes and labels of one split, each (n, width) with one n."""
    keys = [f"{split}/codes_{m}" for m in MODALITIES] + [f"{split}/label"]
    for key in keys:
        if key not in h5 or not isinstance(h5[key], h5py.Dataset):
            raise DataError(path, key, f"missing; {EXPECTED}")
    arrays = {key.split("/")[1]: h5[key][()] for key in keys}
    rows = {a.shape[0] if a.ndim == 2 else -1 for a in arrays.values()}
    if len(rows) != 1 or -1 in rows or 0 in rows:
        raise DataError(path, split, f"{EXPECTED}; expected (n, width) arrays of one n >= 1")
    return arrays


def code_stats(codes: dict[str, dict[str, np.ndarray]], topk: int) -> dict[str, float]:
    """Paired bit agreement per split; per modality of the retrieval codes the fraction of
    distinct codes and the bit balance, as training logs them (src.models.base.code_statistics:
    1 when every bit splits the items in half, 0 when every bit is constant); and mAP@topk for
    the four query/retrieval modality pairs (I->T, T->I, I->I, T->T)."""
    stats = {}
    for split in SPLITS:
        same = codes[split]["codes_image"] == codes[split]["codes_text"]  # (n, c) bool
        stats[f"agreement_{split}"] = float(same.mean())
    for m in MODALITIES:
        bits = torch.from_numpy(codes["retrieval"][f"codes_{m}"])  # (n, c) int8
        stats[f"distinct_{m}"], stats[f"bit_balance_{m}"] = code_statistics(bits)
    q, r = codes["query"], codes["retrieval"]
    for a in MODALITIES:
        for b in MODALITIES:
            stats[f"{a[0]}2{b[0]}_map@{topk}"] = float(
                mean_average_precision(
                    q[f"codes_{a}"].astype(np.float32),
                    r[f"codes_{b}"].astype(np.float32),
                    q["label"].astype(np.float32),
                    r["label"].astype(np.float32),
                    topk=topk,
                )
            )
    return stats


def build_parser() -> argparse.ArgumentParser:
    """The flags; a bad one is one ``error:`` line and exit 2 (src/utils/errors.py)."""
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths", nargs="+", type=existing_path("file"), help="codes.h5 files of eval.py"
    )
    parser.add_argument("--topk", type=integer_at_least(1), default=50)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with one_line_errors(SCRIPT):  # every file is read before any line is printed
        rows = [
            (path, code_stats(checked_load(path, args.topk), args.topk)) for path in args.paths
        ]
    names = list(rows[0][1])
    print("| codes | " + " | ".join(names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for path, stats in rows:
        print(f"| {path} | " + " | ".join(f"{stats[n]:.4f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
