"""CPU training figures (docs/benchmarks.md, "Training"), one sub-command each:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_train overhead --repeats 5
    OMP_NUM_THREADS=1 python -m benchmarks.bench_train scaling --sizes 1000 2000 5000 10000 20000
    OMP_NUM_THREADS=1 python -m benchmarks.bench_train streaming --batches 200
    OMP_NUM_THREADS=1 python -m benchmarks.bench_train profile --top 30
    OMP_NUM_THREADS=1 python -m benchmarks.bench_train allocator --repeats 3

``overhead``: the Lightning module against the plain loop of benchmarks/train_loops.py (same
initial weights, batches and optimiser steps), interleaved and alternating which side runs
first; each run trains two epochs and the second (steady) one is timed. ``scaling``: one
epoch of the module per training-set size (MIRFlickr-shaped, ``device_cache``). ``streaming``:
a NUS-WIDE-sized store (186,577 x 4096 image + 1,000 text, generated in a temporary folder)
read without cache, in a child process whose peak resident memory is measured per stage.
``profile``: cProfile of one Lightning run at narrow widths (where its fixed cost per batch is).
``allocator``: two epochs of the module (Wiki-shaped, paper widths) in child processes with and
without torch's ``THP_MEM_ALLOC_ENABLE=1`` (src/train.py's setting), interleaved: the second
epoch's CPU time, the minor page faults of the run and a hash of the final weights.
Generated data throughout (the MIRFlickr-shaped text is the real tag matrix where found).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import hashlib
import json
import logging
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from benchmarks import shaped_data
from benchmarks.train_loops import Run, run_lightning, run_plain
from src.data.datamodule import AGCHDataModule
from src.models.agch_module import AGCHModule

CPU = torch.device("cpu")


def _model(
    path: Path, shape: shaped_data.Shape, hidden: int = 4096, gcn: int = 2048
) -> AGCHModule:
    """AGCHModule at 32 bits (the paper's network widths by default) with the store's train
    statistics."""
    L.seed_everything(0, verbose=False)
    model = AGCHModule(shape.image_dim, shape.text_dim, 32, hidden_dim=hidden, gcn_dim=gcn)
    model.set_input_stats(AGCHDataModule(str(path)).train_statistics())
    return model


def _spread(values: list[float], fmt: str = ".1f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _pair(base: AGCHModule, path: Path, lightning_first: bool) -> tuple[Run, Run]:
    kw = dict(batch_size=32, seed=0, precision="32-true", device=CPU)
    sides = {}
    for side in ("lightning", "plain") if lightning_first else ("plain", "lightning"):
        fn = run_lightning if side == "lightning" else run_plain
        gc.collect()  # the previous run's trainer holds reference cycles: free it first
        sides[side] = fn(copy.deepcopy(base), path, 2, **kw)
    return sides["lightning"], sides["plain"]


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    """Lightning against the plain loop, interleaved repetitions, median and spread."""
    print(
        "| data | plain loop (samples per CPU s) | Lightning (samples per CPU s) | Lightning / "
        "plain, CPU time | Lightning / plain, wall time | largest loss difference |"
    )
    print("|---|---|---|---|---|---|")
    for shape in (shaped_data.WIKI, shaped_data.MIRFLICKR):
        path = tmp / f"{shape.name}.h5"
        shaped_data.make_store(path, shape, args.n_train)
        base = _model(path, shape, args.hidden, args.gcn)
        samples = args.n_train // 32 * 32
        rows: dict[str, list[float]] = {"plain": [], "light": [], "cpu": [], "wall": []}
        diff = 0.0
        for repeat in range(args.repeats):
            lr, pr = _pair(base, path, lightning_first=repeat % 2 == 1)
            rows["plain"].append(samples / pr.epoch_cpu_s[1])  # epoch 1: the steady one
            rows["light"].append(samples / lr.epoch_cpu_s[1])
            rows["cpu"].append(lr.epoch_cpu_s[1] / pr.epoch_cpu_s[1])
            rows["wall"].append(lr.epoch_s[1] / pr.epoch_s[1])
            diff = max(diff, float((lr.loss_matrix() - pr.loss_matrix()).abs().max()))
            print(
                f"  {shape.name} repeat {repeat}: CPU time ratio {rows['cpu'][-1]:.3f}, wall "
                f"{rows['wall'][-1]:.3f}",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"| {shape.name}-shaped, {samples} pairs | {_spread(rows['plain'])} | "
            f"{_spread(rows['light'])} | {_spread(rows['cpu'], '.3f')} | "
            f"{_spread(rows['wall'], '.3f')} | {diff:.1e} |",
            flush=True,
        )


def profile(args: argparse.Namespace, tmp: Path) -> None:
    """cProfile of one Lightning run (two epochs, Wiki-shaped): where its time goes."""
    path = tmp / "wiki.h5"
    shaped_data.make_store(path, shaped_data.WIKI, args.n_train)
    model = _model(path, shaped_data.WIKI, args.hidden, args.gcn)
    kw = dict(batch_size=32, seed=0, precision="32-true", device=CPU)
    profiler = cProfile.Profile()
    profiler.runcall(run_lightning, model, path, 2, **kw)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)


def scaling(args: argparse.Namespace, tmp: Path) -> None:
    """One epoch of the module per training-set size (MIRFlickr-shaped, device_cache)."""
    print(
        "| train pairs | store + statistics (s) | fit (s) | epoch (s) | epoch CPU (s) | CPU ms "
        "per pair |"
    )
    print("|---|---|---|---|---|---|")
    shape = shaped_data.MIRFLICKR
    for n in args.sizes:
        path = tmp / f"scaling_{n}.h5"
        start = time.perf_counter()
        shaped_data.make_store(path, shape, n, n_query=15)  # YAll has 20,015 rows
        base = _model(path, shape)
        prepared = time.perf_counter() - start
        run = run_lightning(base, path, 1, batch_size=32, seed=0, precision="32-true", device=CPU)
        epoch, cpu = run.epoch_s[0], run.epoch_cpu_s[0]
        print(
            f"| {n} | {prepared:.1f} | {run.wall_s:.1f} | {epoch:.1f} | {cpu:.1f} | "
            f"{1e3 * cpu / (n // 32 * 32):.2f} |",
            flush=True,
        )
        path.unlink()


def _memory_mib(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak since the last reset) of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so that each stage's peak is its own
    and not the parent's from before the fork (ru_maxrss survives fork and exec)."""
    Path("/proc/self/clear_refs").write_text("5")


def streaming_child(path: Path, batches: int) -> dict:
    """Stages of reading a store without cache: wall time, resident memory before the stage
    and the peak during it (MiB)."""
    dm = AGCHDataModule(str(path), batch_size=32, eval_batch_size=1024, cache_in_memory=False)
    stages = {}

    def stage(name: str, fn) -> None:
        _reset_peak()
        before, start = _memory_mib("VmRSS"), time.perf_counter()
        fn()
        seconds = round(time.perf_counter() - start, 1)
        stages[name] = {
            "s": seconds,
            "rss_before": round(before),
            "peak": round(_memory_mib("VmHWM")),
        }

    stage("setup (validates every value)", lambda: dm.setup("fit"))
    stage("train statistics", dm.train_statistics)
    train = iter(dm.train_dataloader())
    stage(f"{batches} training batches", lambda: [next(train) for _ in range(batches)])
    stage(
        "whole retrieval set, 1,024-row batches", lambda: sum(1 for _ in dm.test_dataloader()[1])
    )
    return stages


def streaming(args: argparse.Namespace, tmp: Path) -> None:
    """A NUS-WIDE-sized store streamed without cache; the child's peak memory per stage."""
    path = tmp / "nus.h5"
    start = time.perf_counter()
    size = shaped_data.nus_store(path)
    print(f"store: {size / 2**30:.2f} GiB written in {time.perf_counter() - start:.0f} s")
    cmd = [sys.executable, "-m", "benchmarks.bench_train", "streaming-child", str(path)]
    result = subprocess.run(
        [*cmd, "--batches", str(args.batches)], capture_output=True, text=True, check=True
    )
    print("| stage | wall (s) | resident before (MiB) | peak during the stage (MiB) |")
    print("|---|---|---|---|")
    for name, row in json.loads(result.stdout.splitlines()[-1]).items():
        print(f"| {name} | {row['s']} | {row['rss_before']} | {row['peak']} |")


def allocator_child(path: Path, epochs: int) -> dict:
    """Train `epochs` epochs; CPU s of the last, minor page faults, SHA-256 of the weights."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model = _model(path, shaped_data.WIKI)
    run = run_lightning(model, path, epochs, 32, 0, "32-true", CPU)
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"cpu_s": run.epoch_cpu_s[-1], "faults": faults, "sha256": digest.hexdigest()}


def allocator(args: argparse.Namespace, tmp: Path) -> None:
    """torch's default CPU allocation against THP_MEM_ALLOC_ENABLE=1, interleaved children."""
    path = tmp / "wiki.h5"
    shaped_data.make_store(path, shaped_data.WIKI, args.n_train)
    settings = {"default": {}, "THP_MEM_ALLOC_ENABLE=1": {"THP_MEM_ALLOC_ENABLE": "1"}}
    rows: dict[str, list[dict]] = {name: [] for name in settings}
    for repeat in range(args.repeats):
        for name in list(settings)[:: 1 if repeat % 2 == 0 else -1]:  # alternate the order
            env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
            cmd = [sys.executable, "-m", "benchmarks.bench_train", "allocator-child", str(path)]
            out = subprocess.run(cmd, env={**env, **settings[name]}, capture_output=True,
                                 text=True, check=True)  # fmt: skip
            rows[name].append(json.loads(out.stdout.splitlines()[-1]))
    base = rows["default"]
    print("| allocation | epoch CPU s | / default | minor page faults per run | weights |")
    print("|---|---|---|---|---|")
    for name, runs in rows.items():
        ratio = [r["cpu_s"] / b["cpu_s"] for r, b in zip(runs, base)]
        same = all(r["sha256"] == base[0]["sha256"] for r in runs)
        print(
            f"| {name} | {_spread([r['cpu_s'] for r in runs], '.2f')} | "
            f"{_spread(ratio, '.3f')} | {_spread([r['faults'] for r in runs], '.0f')} | "
            f"{'identical to default' if same else 'DIFFERENT'} |",
            flush=True,
        )


COMMANDS = {
    "allocator": allocator,
    "overhead": overhead,
    "profile": profile,
    "scaling": scaling,
    "streaming": streaming,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("overhead")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n-train", type=int, default=320)
    p.add_argument("--hidden", type=int, default=4096, help="narrow: Lightning's fixed cost")
    p.add_argument("--gcn", type=int, default=2048)
    p = sub.add_parser("profile")
    p.add_argument("--n-train", type=int, default=3200)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--gcn", type=int, default=16)
    p.add_argument("--top", type=int, default=30)
    p = sub.add_parser("scaling")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000])
    p = sub.add_parser("streaming")
    p.add_argument("--batches", type=int, default=200)
    p = sub.add_parser("allocator")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-train", type=int, default=320)
    p = sub.add_parser("allocator-child")
    p.add_argument("path", type=Path)
    p.add_argument("--epochs", type=int, default=2)
    p = sub.add_parser("streaming-child")
    p.add_argument("path", type=Path)
    p.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    if args.command == "allocator-child":
        print(json.dumps(allocator_child(args.path, args.epochs)))
        return
    if args.command == "streaming-child":
        print(json.dumps(streaming_child(args.path, args.batches)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        COMMANDS[args.command](args, Path(tmp))


if __name__ == "__main__":
    main()
