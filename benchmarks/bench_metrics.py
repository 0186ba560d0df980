"""Retrieval metrics against their floor, the packed-bit Hamming distances, in the same run.

The floor is XOR and popcount of the packed codes for every (query, retrieval item) pair, 512
query rows at a time into one reused buffer (codes packed beforehand): the least any exact
Hamming ranking must compute, by the compiled kernel of `src.metrics.kernels` when numba (the
[fast] extra) is installed, else by numpy (`src.metrics.packed.hamming_into`); numpy's is also
a column of its own. Beside it, in interleaved repetitions (median and spread): the float
product of the +-1 codes, faiss's exact top 50 (`IndexBinaryFlat`, one thread; a column of
"-" when faiss-cpu is not installed), mAP@50 and mAP@all (`evaluate_retrieval`, inputs
checked and codes packed inside each call), at the MIRFlickr size (2,000 queries x 18,015
items, the real labels of mirflickr25k-lall.mat when present), the NUS-WIDE size (2,000 x
184,577, generated labels) and against the retrieval size; then the peak growth of the
resident memory (RSS) of one evaluation at the NUS-WIDE size, each in a fresh process. Each
metric is checked against the per-query numpy loop on the first queries. Random codes (seed
0). Not a test; ``--small`` (a few seconds) is run by tests/test_bench_metrics.py. From the
repository root:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_metrics [--small] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
import torch

from benchmarks import metric_stages
from src.metrics import kernels, packed
from src.metrics.functional import evaluate_retrieval

REPO = Path(__file__).resolve().parents[1]
FULL = dict(nq=2000, mir=18015, nus=184_577, scale=(5000, 18015, 46144, 92289, 184_577), check=40)
SMALL = dict(nq=100, mir=900, nus=4000, scale=(900, 2000, 4000), check=20)
COLUMNS = ("floor", "numpy XOR+popcount", "float product", "faiss top-50", "mAP@50", "mAP@all")


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


def labels(data_dir: Path, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(n, L) multi-hot: MIRFlickr's real labels when n fits, else generated (21 classes)."""
    path = data_dir / "mirflickr" / "mirflickr25k-lall.mat"
    if path.is_file() and n <= 20015:
        return scipy.io.loadmat(path)["LAll"][:n].astype(np.float32), f"real labels ({path.name})"
    L = (rng.random((n, 21)) < 0.15).astype(np.float32)  # (n, 21) multi-hot
    L[np.arange(n), rng.integers(0, 21, n)] = 1.0  # every item has a label
    return L, "generated 21-class labels"


def make_case(data_dir: Path, device: str, nq: int, nr: int, c: int):
    rng = np.random.default_rng(0)
    L, source = labels(data_dir, nq + nr, rng)
    codes = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(nq + nr, c))
    case = [codes[:nq], codes[nq:], L[:nq], L[nq:]]
    return [torch.as_tensor(x, device=device) for x in case], source


def faiss_top50(Bq: torch.Tensor, Br: torch.Tensor) -> Callable[[], object] | None:
    """faiss's exact top 50 by Hamming distance (IndexBinaryFlat, one thread), or None."""
    try:
        faiss = importlib.import_module("faiss")
    except ImportError:
        return None
    faiss.omp_set_num_threads(1)
    bits = [np.packbits(B.cpu().numpy() > 0, axis=1) for B in (Bq, Br)]  # (n, c / 8) uint8
    index = faiss.IndexBinaryFlat(Bq.shape[1])
    index.add(bits[1])
    return lambda: index.search(bits[0], 50)


def tasks(case: list[torch.Tensor]) -> dict[str, Callable[[], object] | None]:
    Bq, Br, Lq, Lr = case
    Pq, Pr = packed.pack_codes(Bq), packed.pack_codes(Br)  # (n, w) uint64
    PrT = np.ascontiguousarray(Pr.T)  # (w, nr) one row per word, the kernels' layout
    buf = np.empty((512, Br.shape[0]), dtype=packed.distance_dtype(Br.shape[1]))  # reused
    fbuf = torch.empty(512, Br.shape[0], device=Bq.device)  # (512, nr) reused float32

    def numpy_floor() -> None:  # every distance, 512 query rows at a time into one buffer
        for s in range(0, len(Pq), 512):
            packed.hamming_into(Pq[s : s + 512], Pr, buf[: len(Pq[s : s + 512])])

    def kernel_floor() -> None:  # the same with the compiled kernel (numba)
        for s in range(0, len(Pq), 512):
            kernels.distances_rows(Pq[s : s + 512], PrT, buf[: len(Pq[s : s + 512])])

    def product() -> None:  # the float product of the codes, the same chunks
        for s in range(0, len(Bq), 512):
            torch.mm(Bq[s : s + 512], Br.T, out=fbuf[: len(Bq[s : s + 512])])

    cpu = Bq.device.type == "cpu"
    floor = (kernel_floor if kernels.AVAILABLE else numpy_floor) if cpu else product
    return {
        "floor": floor,
        "numpy XOR+popcount": numpy_floor if cpu else None,
        "float product": product,
        "faiss top-50": faiss_top50(Bq, Br),
        "mAP@50": lambda: evaluate_retrieval(Bq, Br, Lq, Lr, topk=50, map_all=False),
        "mAP@all": lambda: evaluate_retrieval(Bq, Br, Lq, Lr, topk=None, map_all=True),
    }


def interleaved(fns: dict, repeat: int, device: str) -> dict[str, list[float]]:
    """Times (s) per task over `repeat` rounds; each round runs every task once, after one
    untimed warm-up round. CPU time of this process on the CPU (one thread: what the task
    costs whatever else shares the cores), wall time on a GPU. Tasks that are None: no times."""
    clock = time.perf_counter if device == "cuda" else time.process_time
    fns = {name: fn for name, fn in fns.items() if fn is not None}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = clock()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(clock() - start)
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
    floor, cells = statistics.median(times["floor"]), []
    for name in COLUMNS:
        ts = times.get(name)
        if not ts:
            cells.append("-")
            continue
        med = statistics.median(ts)
        ratio = "" if name == "floor" else f" ({med / floor:.2f}x)"
        cells.append(f"{med:.3f} [{min(ts):.3f}-{max(ts):.3f}]{ratio}")
    if times.get("faiss top-50"):
        cells.append(
            f"{statistics.median(times['mAP@50']) / statistics.median(times['faiss top-50']):.2f}"
        )
    else:
        cells.append("-")
    return f"| {label} | " + " | ".join(cells) + " |"


def header(first: str) -> str:
    names = [f"{n} s" + ("" if n == "floor" else " (/floor)") for n in COLUMNS]
    names.append("mAP@50 / faiss")
    return f"| {first} | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1)


def run_size(args, sizes: dict, name: str, nr: int, bits: list[int]) -> None:
    print(f"\n{name} size: {sizes['nq']} queries x {nr} retrieval items")
    print(header("bits"))
    for c in bits:
        case, source = make_case(args.data_dir, args.device, sizes["nq"], nr, c)
        check(case, sizes["check"])
        print(row(str(c), interleaved(tasks(case), args.repeat, args.device)), flush=True)
    print(f"({source}, random codes seed 0; median [min-max] of {args.repeat} interleaved runs)")


def run_scaling(args, sizes: dict) -> None:
    print(
        f"\nEvaluation time against retrieval size, {sizes['nq']} queries, {args.scale_bits} bits"
    )
    print(header("retrieval items"))
    for nr in args.scale_sizes or sizes["scale"]:
        case, _ = make_case(args.data_dir, args.device, sizes["nq"], nr, args.scale_bits)
        print(row(str(nr), interleaved(tasks(case), args.repeat, args.device)), flush=True)


def run_stages(args, sizes: dict) -> None:
    """Where mAP@all's CPU time goes, MIRFlickr size (benchmarks/metric_stages.py)."""
    if not kernels.AVAILABLE:
        print("\n(no stage table: numba, the [fast] extra, is not installed)")
        return
    metric_stages.table(args, sizes, make_case, tasks, interleaved)


def _status_mib(field: str) -> float:
    """A field of /proc/self/status (VmRSS: resident now, VmHWM: its peak) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_child(nq: int, nr: int, c: int, topk: int | None, budget: float, data_dir: Path) -> None:
    """In a fresh process: the growth of peak RSS (MiB) over the RSS before one evaluation."""
    case, _ = make_case(data_dir, "cpu", nq, nr, c)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the RSS now
    before = _status_mib("VmRSS")
    evaluate_retrieval(*case, topk=topk, map_all=topk is None, memory_budget_mb=budget)
    print(json.dumps({"before": before, "growth": _status_mib("VmHWM") - before}))


def run_rss(args, sizes: dict) -> None:
    nr, c = sizes["nus"], args.scale_bits
    print(f"\nPeak RSS growth of one evaluation, {sizes['nq']} x {nr}, {c} bits, fresh process")
    print("| metric | memory_budget_mb | RSS before MiB | peak growth MiB |\n|---|---|---|---|")
    for topk, budget in ((50, 256), (None, 256), (None, 64)):
        cmd = [sys.executable, "-m", "benchmarks.bench_metrics", "--rss-child"]
        cmd += [str(sizes["nq"]), str(nr), str(c), str(topk or 0), str(budget)]
        cmd += ["--data-dir", str(args.data_dir)]
        res = json.loads(subprocess.run(cmd, cwd=REPO, capture_output=True, check=True).stdout)
        name = f"mAP@{topk}" if topk else "mAP@all"
        print(f"| {name} | {budget} | {res['before']:.0f} | {res['growth']:.0f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--nus-bits", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--scale-bits", type=int, default=32)
    parser.add_argument("--scale-sizes", type=int, nargs="+", help="retrieval sizes to time")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--stages", action="store_true", help="only the table of stages")
    parser.add_argument("--rss-child", type=float, nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        nq, nr, c, topk, budget = args.rss_child
        rss_child(int(nq), int(nr), int(c), int(topk) or None, budget, args.data_dir)
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device", file=sys.stderr)
        return 2
    sizes = SMALL if args.small else FULL
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} threads")
    tiny = make_case(args.data_dir, "cpu", 2, 2, 8)[0]
    print(f"device {args.device}; faiss: {'yes' if faiss_top50(*tiny[:2]) else 'not installed'}")
    how = "compiled kernel (numba)" if kernels.AVAILABLE else "numpy (numba not installed)"
    print(f"floor and metrics on the CPU: {how}")
    if args.stages:
        run_stages(args, sizes)
        return 0
    run_size(args, sizes, "MIRFlickr", sizes["mir"], args.bits)
    run_size(args, sizes, "NUS-WIDE", sizes["nus"], args.nus_bits)
    run_scaling(args, sizes)
    if args.device == "cpu":
        run_rss(args, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
