"""Benchmark of the vectorised retrieval metrics against a per-query numpy loop.

MIRFlickr protocol size (2,000 queries x 18,015 retrieval items, the real labels of
mirflickr25k-lall.mat, random codes with a fixed seed) at 16/32/64/128 bits, and the NUS-WIDE
size (2,000 x 184,577, generated 10-class multi-hot labels, 128 bits). Not a test.

    python benchmarks/bench_metrics.py [--data-dir ../shared/data] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
import torch

from src.metrics.functional import DEFAULT_MEMORY_BUDGET_MB, evaluate_retrieval

REPO = Path(__file__).resolve().parents[1]
N_QUERY = 2000


def loop_map(Bq: np.ndarray, Br: np.ndarray, Lq: np.ndarray, Lr: np.ndarray, topk) -> float:
    """The per-query numpy loop of public hashing code, with a stable sort (as in the tests)."""
    c, aps = Bq.shape[1], []
    for bq, lq in zip(Bq, Lq):
        dist = 0.5 * (c - Br @ bq)  # (nr,)
        rel = (Lr @ lq > 0)[np.argsort(dist, kind="stable")]
        n_all = rel.sum()
        rel = rel[:topk] if topk is not None else rel
        hits = np.flatnonzero(rel) + 1.0
        denom = len(hits) if topk is not None else n_all
        aps.append(np.sum(np.arange(1, len(hits) + 1) / hits) / denom if denom else 0.0)
    return float(np.mean(aps))


def timed(fn: Callable[[], object], device: str, repeat: int = 1) -> tuple[float, object]:
    """Best wall time of `repeat` runs (the machine is shared) and the last result."""
    best = float("inf")
    for _ in range(repeat):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def random_codes(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n, c))


def vectorised(Bq, Br, Lq, Lr, device: str, topk, budget: float) -> float:
    args = [torch.as_tensor(x, device=device) for x in (Bq, Br, Lq, Lr)]
    res = evaluate_retrieval(*args, topk=topk, map_all=topk is None, memory_budget_mb=budget)
    return float(res["map@all" if topk is None else f"map@{topk}"])


def bench_mirflickr(args: argparse.Namespace) -> None:
    path = args.data_dir / "mirflickr" / "mirflickr25k-lall.mat"
    if not path.is_file():
        print(f"MIRFlickr part skipped: {path} not found (pass --data-dir)")
        return
    L = scipy.io.loadmat(path)["LAll"].astype(np.float32)  # (20015, 24)
    Lq, Lr = L[:N_QUERY], L[N_QUERY:]
    n_loop = min(args.loop_queries, N_QUERY)
    print(
        f"\nMIRFlickr size: {len(Lq)} queries x {len(Lr)} retrieval items, real labels "
        f"({path.name}), random codes (seed 0); loop timed on the first {n_loop} queries and "
        f"scaled x{N_QUERY / n_loop:g}; vectorised: best of {args.repeat}"
    )
    print(f"{'bits':>4} | {'metric':>7} | {'vectorised s':>12} | {'loop s':>8} | {'speed-up':>8}")
    for c in args.bits:
        rng = np.random.default_rng(0)
        Bq, Br = random_codes(rng, len(Lq), c), random_codes(rng, len(Lr), c)
        for topk, name in ((50, "mAP@50"), (None, "mAP@all")):
            t_vec, value = timed(
                lambda: vectorised(Bq, Br, Lq, Lr, args.device, topk, args.budget),
                args.device,
                args.repeat,
            )
            t_loop, loop_value = timed(
                lambda: loop_map(Bq[:n_loop], Br, Lq[:n_loop], Lr, topk), "cpu"
            )
            t_loop *= N_QUERY / n_loop
            check = vectorised(Bq[:n_loop], Br, Lq[:n_loop], Lr, args.device, topk, args.budget)
            assert abs(check - loop_value) < 1e-6, (check, loop_value)
            print(
                f"{c:>4} | {name:>7} | {t_vec:>12.3f} | {t_loop:>8.2f} | {t_loop / t_vec:>7.0f}x"
            )


def packed_popcount(Bq: torch.Tensor, Br: torch.Tensor) -> torch.Tensor:
    """Hamming distances by XOR of 64-bit words and a byte popcount table (the alternative)."""
    weights = 2 ** torch.arange(64, dtype=torch.int64)
    pack = lambda B: ((B > 0).long().view(B.shape[0], -1, 64) * weights).sum(-1)  # noqa: E731
    table = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int32)
    x = (pack(Bq)[:, None, :] ^ pack(Br)[None]).contiguous().view(torch.uint8)  # (q, nr, 8w)
    return table[x.long()].view(Bq.shape[0], Br.shape[0], -1).sum(-1)


def bench_distance(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    Bq, Br = (torch.as_tensor(random_codes(rng, n, 128)) for n in (50, 18015))
    t_mm, d_mm = timed(lambda: ((128 - Bq @ Br.T) / 2).int(), "cpu", args.repeat)
    t_pc, d_pc = timed(lambda: packed_popcount(Bq, Br), "cpu", 1)
    assert torch.equal(d_mm, d_pc)
    print(
        f"\nHamming distance, 50 x 18,015 at 128 bits (CPU): float32 matmul {t_mm:.3f} s, "
        f"packed 64-bit XOR + byte popcount table {t_pc:.3f} s (both exact)"
    )


def bench_nus(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    nr, c = 184_577, 128
    L = (rng.random((N_QUERY + nr, 10)) < 0.25).astype(np.float32)  # (n, 10) multi-hot
    L[np.arange(len(L)), rng.integers(0, 10, len(L))] = 1.0  # every item has a label
    Bq, Br = random_codes(rng, N_QUERY, c), random_codes(rng, nr, c)
    print(
        f"\nNUS-WIDE size: {N_QUERY} x {nr}, generated 10-class multi-hot labels, {c} bits, "
        f"random codes (seed 0), memory budget {args.budget:g} MB"
    )
    for topk, name in ((50, "mAP@50"), (None, "mAP@all")):
        t, value = timed(
            lambda: vectorised(Bq, Br, L[:N_QUERY], L[N_QUERY:], args.device, topk, args.budget),
            args.device,
        )
        print(f"  {name:>7}: {t:.2f} s (value {value:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--loop-queries", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=DEFAULT_MEMORY_BUDGET_MB)
    parser.add_argument("--skip-nus", action="store_true")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"numpy {np.__version__}"
    )
    bench_distance(args)
    bench_mirflickr(args)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not args.skip_nus:
        bench_nus(args)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {rss:.0f} MiB (before the NUS-WIDE part: {rss0:.0f} MiB)")
    if args.device == "cuda":
        print(f"peak CUDA memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
