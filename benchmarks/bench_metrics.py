"""Retrieval metrics against their floor: one distance product of the codes, in the same run.

The floor is ``Bq @ Br.T`` (float32, query x retrieval x bits), the least any Hamming ranking
must do; beside it, the same product 64 queries at a time into one reused buffer (no large
allocation to fault in: the compute-only cost). Side by side, in interleaved repetitions
(median and spread): both, mAP@50 and mAP@all at the MIRFlickr size (2,000 queries x 18,015
retrieval items, the real labels of mirflickr25k-lall.mat when present) and the NUS-WIDE size
(2,000 x 184,577, generated labels), their ratios to the floor, and the evaluation time
against the retrieval size. Each metric is checked against the per-query numpy loop on the
first queries. Random codes (seed 0). Not a test; ``--small`` (a few seconds) is run by
tests/test_bench_metrics.py. From the repository root:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_metrics [--small] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
import torch

from src.metrics.functional import evaluate_retrieval

REPO = Path(__file__).resolve().parents[1]
FULL = dict(nq=2000, mir=18015, nus=184_577, scale=(18015, 46144, 92289, 184_577), check=40)
SMALL = dict(nq=100, mir=900, nus=4000, scale=(900, 2000, 4000), check=20)


def loop_map(Bq: np.ndarray, Br: np.ndarray, Lq: np.ndarray, Lr: np.ndarray, topk) -> float:
    """The per-query numpy loop of public hashing code, with a stable sort (ties by index)."""
    c, aps = Bq.shape[1], []
    for bq, lq in zip(Bq, Lq):
        rel = (Lr @ lq > 0)[np.argsort(0.5 * (c - Br @ bq), kind="stable")]  # (nr,)
        n_all = rel.sum()
        rel = rel[:topk] if topk is not None else rel
        hits = np.flatnonzero(rel) + 1.0
        denom = len(hits) if topk is not None else n_all
        aps.append(np.sum(np.arange(1, len(hits) + 1) / hits) / denom if denom else 0.0)
    return float(np.mean(aps))


def labels(args: argparse.Namespace, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(n, L) multi-hot: MIRFlickr's real labels when n fits, else generated (21 classes)."""
    path = args.data_dir / "mirflickr" / "mirflickr25k-lall.mat"
    if path.is_file() and n <= 20015:
        return scipy.io.loadmat(path)["LAll"][:n].astype(np.float32), f"real labels ({path.name})"
    L = (rng.random((n, 21)) < 0.15).astype(np.float32)  # (n, 21) multi-hot
    L[np.arange(n), rng.integers(0, 21, n)] = 1.0  # every item has a label
    return L, "generated 21-class labels"


def make_case(args, nq: int, nr: int, c: int) -> tuple[list[torch.Tensor], str]:
    rng = np.random.default_rng(0)
    L, source = labels(args, nq + nr, rng)
    codes = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(nq + nr, c))
    case = [codes[:nq], codes[nq:], L[:nq], L[nq:]]
    return [torch.as_tensor(x, device=args.device) for x in case], source


def tasks(case: list[torch.Tensor]) -> dict[str, Callable[[], object]]:
    Bq, Br, Lq, Lr = case
    buf = torch.empty(64, Br.shape[0], device=Bq.device)  # (64, nr) reused output

    def in_cache() -> None:  # the same product, 64 queries at a time into one buffer
        for start in range(0, Bq.shape[0], 64):
            torch.mm(Bq[start : start + 64], Br.T, out=buf[: len(Bq[start : start + 64])])

    return {
        "floor": lambda: Bq @ Br.T,  # (nq, nr) float32: one distance product
        "chunked": in_cache,
        "mAP@50": lambda: evaluate_retrieval(Bq, Br, Lq, Lr, topk=50, map_all=False),
        "mAP@all": lambda: evaluate_retrieval(Bq, Br, Lq, Lr, topk=None, map_all=True),
    }


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, device: str) -> dict:
    """Wall times (s) per task over `repeat` rounds; each round runs every task once, after
    one untimed warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return times


def check(case: list[torch.Tensor], n: int) -> None:
    """The first n queries of each metric equal the per-query loop (to float rounding)."""
    Bq, Br, Lq, Lr = (x[:n] if i % 2 == 0 else x for i, x in enumerate(case))
    Bq, Br, Lq, Lr = (x.cpu().numpy() for x in (Bq, Br, Lq, Lr))
    for topk, key in ((50, "map@50"), (None, "map@all")):
        got = float(evaluate_retrieval(Bq, Br, Lq, Lr, topk=topk, map_all=topk is None)[key])
        want = loop_map(Bq, Br, Lq, Lr, topk)
        assert abs(got - want) < 1e-6, (key, got, want)


def row(label: str, times: dict[str, list[float]]) -> str:
    floor = statistics.median(times["floor"])
    cells = []
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = "" if name in ("floor", "chunked") else f" ({med / floor:.2f}x)"
        cells.append(f"{med:.3f} [{min(ts):.3f}-{max(ts):.3f}]{ratio}")
    return f"| {label} | " + " | ".join(cells) + " |"


def header(first: str) -> str:
    names = ("floor s", "product in chunks s", "mAP@50 s (/floor)", "mAP@all s (/floor)")
    return f"| {first} | " + " | ".join(names) + " |\n|" + "---|" * 5


def run_size(args, sizes: dict, name: str, nr: int, bits: list[int]) -> None:
    print(f"\n{name} size: {sizes['nq']} queries x {nr} retrieval items")
    print(header("bits"))
    for c in bits:
        case, source = make_case(args, sizes["nq"], nr, c)
        check(case, sizes["check"])
        print(row(str(c), interleaved(tasks(case), args.repeat, args.device)), flush=True)
    print(f"({source}, random codes seed 0; median [min-max] of {args.repeat} interleaved runs)")


def run_scaling(args, sizes: dict) -> None:
    print(
        f"\nEvaluation time against retrieval size, {sizes['nq']} queries, {args.scale_bits} bits"
    )
    print(header("retrieval items"))
    for nr in sizes["scale"]:
        case, _ = make_case(args, sizes["nq"], nr, args.scale_bits)
        print(row(str(nr), interleaved(tasks(case), args.repeat, args.device)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--nus-bits", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--scale-bits", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="tiny sizes, a few seconds")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device", file=sys.stderr)
        return 2
    sizes = SMALL if args.small else FULL
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    run_size(args, sizes, "MIRFlickr", sizes["mir"], args.bits)
    run_size(args, sizes, "NUS-WIDE", sizes["nus"], args.nus_bits)
    run_scaling(args, sizes)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {rss:.0f} MiB (the floor's full matrix included)")
    if args.device == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
