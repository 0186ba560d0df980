"""The GPU check of the design in one process: training speed in fp32 and bf16-mixed, the
plain PyTorch loop beside the Lightning module, and retrieval evaluation on the device.

    python -m benchmarks.bench_gpu --out bench_gpu.json     # full sizes (a GPU: minutes)
    python -m benchmarks.bench_gpu --small --out small.json  # CPU, under a minute

(a) Wiki-shaped (2,173 pairs, 128-d / 10-d) and MIRFlickr-shaped (5,000 pairs, 4096-d
stand-in image features, the real 1,386-d tags where found) training at 32 bits with
``device_cache``: fp32 against bf16-mixed, samples/s, epoch time, peak memory, and the bf16
losses against the fp32 ones on the same batches. (b) mAP@50 and mAP@all of 2,000 queries
against 18,015 and 184,577 items on the device, against the CPU result. (c) the plain loop of
benchmarks/train_loops.py beside the module: Lightning's overhead, and whether both give the
same losses on the same batches. The goals of issue 15 (H100/H200) are printed against the
measurements; the JSON holds everything. Generated data throughout: not a result on any data
set.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from benchmarks import shaped_data
from benchmarks.train_loops import Run, run_lightning, run_plain, sync
from src.data.datamodule import AGCHDataModule
from src.metrics import mean_average_precision
from src.models.agch_module import AGCHModule

BF16_TOLERANCE = 0.02  # |loss_bf16 - loss_fp32| / loss_fp32, first batch and epoch-0 mean
CPU = torch.device("cpu")
FULL = dict(
    sizes={"wiki": 2173, "mirflickr": 5000},
    epochs={"wiki": 150, "mirflickr": 40},
    plain_epochs={"wiki": 30, "mirflickr": 10},
    net=dict(hidden_dim=4096, gcn_dim=2048),
    eval=[(2000, 18015), (2000, 184577)],
)
SMALL = dict(
    sizes={"wiki": 160, "mirflickr": 160},
    epochs={"wiki": 2, "mirflickr": 2},
    plain_epochs={"wiki": 2, "mirflickr": 2},
    net=dict(hidden_dim=256, gcn_dim=128),
    eval=[(200, 2000), (200, 5000)],
)
GOALS = [  # (name, JSON path of the measurement, limit)
    ("40 MIRFlickr-shaped epochs, 32 bits, bf16-mixed (s)", ("mirflickr", "bf16-mixed"), 20.0),
    ("150 Wiki-shaped epochs, 32 bits, bf16-mixed (s)", ("wiki", "bf16-mixed"), 20.0),
]


def _stats(run: Run, samples_per_epoch: int) -> dict:
    steady = run.epoch_s[1:] or run.epoch_s  # epoch 0 holds the warm-up
    median = statistics.median(steady)
    return {
        "epochs": len(run.epoch_s),
        "wall_s": round(run.wall_s, 3),
        "epoch_s_first": round(run.epoch_s[0], 4),
        "epoch_s_median": round(median, 4),
        "epoch_s_min": round(min(steady), 4),
        "epoch_s_max": round(max(steady), 4),
        "samples_per_s": round(samples_per_epoch / median, 1),
        "peak_mib": None if run.peak_mib is None else round(run.peak_mib, 1),
    }


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp_min(1e-12)).max())


def train_shape(name: str, cfg: dict, args, device: torch.device, tmp: Path, out: dict, save):
    """Lightning and the plain loop, bf16-mixed then fp32, on one data shape, into ``out``
    (``save()`` after each precision, so that a run cut short keeps what it measured)."""
    shape = getattr(shaped_data, name.upper())
    path = tmp / f"{name}.h5"
    n_train = cfg["sizes"][name]
    data = shaped_data.make_store(path, shape, n_train)
    L.seed_everything(args.seed, verbose=False)
    base = AGCHModule(shape.image_dim, shape.text_dim, code_length=args.bits, **cfg["net"])
    base.set_input_stats(AGCHDataModule(str(path)).train_statistics())
    samples = n_train // args.batch_size * args.batch_size
    out |= {"data": data, "n_train": n_train, "bits": args.bits, "batch_size": args.batch_size}
    losses = {}
    for precision in ("bf16-mixed", "32-true"):
        kw = dict(batch_size=args.batch_size, seed=args.seed, precision=precision, device=device)
        light = run_lightning(copy.deepcopy(base), path, cfg["epochs"][name], **kw)
        plain = run_plain(copy.deepcopy(base), path, cfg["plain_epochs"][name], **kw)
        ls, ps = _stats(light, samples), _stats(plain, samples)
        n = min(len(light.losses), len(plain.losses)) // 2
        out[precision] = {
            "lightning": ls,
            "plain": ps,
            "overhead_pct": round(100 * (ls["epoch_s_median"] / ps["epoch_s_median"] - 1), 1),
            "plain_vs_lightning_max_rel": _rel(plain.loss_matrix()[:n], light.loss_matrix()[:n]),
        }
        losses[precision] = light.loss_matrix()
        print(f"  {name} {precision}: {ls['epoch_s_median']:.3f} s/epoch", flush=True)
        save()
    out["bf16_vs_fp32"] = _compare_bf16(losses, samples // args.batch_size)
    save()


def _compare_bf16(losses: dict, per_epoch: int) -> dict:
    """bf16 losses against fp32 on the same batches: first batch, epoch-0 mean."""
    fp32, bf16 = losses["32-true"], losses["bf16-mixed"]
    first = _rel(bf16[0], fp32[0])
    mean0 = _rel(bf16[:per_epoch].mean(0), fp32[:per_epoch].mean(0))
    return {
        "first_batch_rel": first,
        "epoch0_mean_rel": mean0,
        "tolerance": BF16_TOLERANCE,
        "within": bool(first <= BF16_TOLERANCE and mean0 <= BF16_TOLERANCE),
    }


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """(value, best wall seconds of ``repeats`` calls) of ``fn()``."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        value = fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return value, best


def evaluation(cfg: dict, args, device: torch.device) -> list[dict]:
    """mAP@50 and mAP@all on the device against the CPU, per retrieval size."""
    rows = []
    for nq, nr in cfg["eval"]:
        cpu = shaped_data.retrieval_codes(nq, nr, args.bits, 24, seed=args.seed)
        dev = [x.to(device) for x in cpu]
        for topk in (50, None):
            mean_average_precision(*[x[:10] for x in dev], topk=topk)  # warm-up
            value_dev, dev_s = _timed(lambda: mean_average_precision(*dev, topk=topk), device, 3)
            value_cpu, cpu_s = _timed(lambda: mean_average_precision(*cpu, topk=topk), CPU, 1)
            rows.append(
                {
                    "n_query": nq,
                    "n_retrieval": nr,
                    "bits": args.bits,
                    "metric": f"map@{topk or 'all'}",
                    "device_s": round(dev_s, 4),
                    "cpu_s": round(cpu_s, 3),
                    "device_value": value_dev,
                    "cpu_value": value_cpu,
                    "abs_diff": abs(value_dev - value_cpu),
                    "exact": value_dev == value_cpu,
                }
            )
            print(f"  eval {nq} x {nr} map@{topk or 'all'}: {dev_s:.3f} s", flush=True)
    return rows


def goals(report: dict) -> list[dict]:
    """The issue's goals against the measurements (meaningful on an H100/H200 only)."""
    out = []
    for name, (shape, precision), limit in GOALS:
        value = report["training"][shape][precision]["lightning"]["wall_s"]
        out.append({"goal": name, "limit": limit, "measured": value, "met": value < limit})
    nus = [r for r in report["evaluation"] if r["n_retrieval"] == FULL["eval"][1][1]]
    for row in nus:
        if row["metric"] == "map@all":
            value = row["device_s"]
            out.append(
                {
                    "goal": "NUS-size mAP@all (s)",
                    "limit": 1.0,
                    "measured": value,
                    "met": value < 1.0,
                }
            )
    for shape in ("wiki", "mirflickr"):
        value = report["training"][shape]["bf16-mixed"]["overhead_pct"]
        name = f"Lightning overhead, {shape}-shaped, bf16-mixed (%)"
        out.append({"goal": name, "limit": 10.0, "measured": value, "met": value < 10.0})
    return out


def print_tables(report: dict) -> None:
    """The report as Markdown tables (what docs/benchmarks.md records)."""
    print(f"\n{report['machine']}")
    print(
        "| shape | precision | loop | epochs | s/epoch (median, min-max) | samples/s | "
        "wall (s) | peak MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, shape in report["training"].items():
        for precision in ("32-true", "bf16-mixed"):
            for loop in ("lightning", "plain"):
                r = shape[precision][loop]
                print(
                    f"| {name} | {precision} | {loop} | {r['epochs']} | {r['epoch_s_median']:.4f} "
                    f"({r['epoch_s_min']:.4f}-{r['epoch_s_max']:.4f}) | {r['samples_per_s']} | "
                    f"{r['wall_s']:.1f} | {r['peak_mib']} |"
                )
    for name, shape in report["training"].items():
        for precision in ("32-true", "bf16-mixed"):
            r = shape[precision]
            print(
                f"{name} {precision}: Lightning overhead {r['overhead_pct']} %, max relative "
                f"loss difference plain/Lightning {r['plain_vs_lightning_max_rel']:.2e}"
            )
        b = shape["bf16_vs_fp32"]
        print(
            f"{name} bf16 vs fp32 losses: first batch {b['first_batch_rel']:.2e}, epoch-0 "
            f"mean {b['epoch0_mean_rel']:.2e} (tolerance {b['tolerance']}): {b['within']}"
        )
    print("\n| queries x items | bits | metric | device (s) | CPU (s) | value | exact |")
    print("|---|---|---|---|---|---|---|")
    for r in report["evaluation"]:
        print(
            f"| {r['n_query']} x {r['n_retrieval']} | {r['bits']} | {r['metric']} | "
            f"{r['device_s']} | {r['cpu_s']} | {r['device_value']:.6f} | {r['exact']} |"
        )
    for g in report.get("goals", []):
        print(f"goal: {g['goal']} < {g['limit']}: measured {g['measured']}, met {g['met']}")


def write_json(report: dict, path: Path) -> None:
    """Write the report atomically (a temporary file beside it, renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, path)


def machine(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return (
        f"{device.type}: {name or platform.machine()}, torch {torch.__version__}, lightning "
        f"{L.__version__}, {torch.get_num_threads()} threads, python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CPU-sized run (under a minute)")
    parser.add_argument("--out", type=Path, default=Path("bench_gpu.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg, device = (SMALL if args.small else FULL), torch.device(args.device)
    for name in ("lightning.pytorch", "lightning.fabric"):  # no tips and banners per run
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    report = {"small": args.small, "machine": machine(device), "training": {}, "evaluation": []}
    print(report["machine"], flush=True)
    # evaluation first, then the headline MIRFlickr goal: a run cut short keeps what it wrote
    report["evaluation"] = evaluation(cfg, args, device)
    write_json(report, args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mirflickr", "wiki"):
            report["training"][name] = {}
            save = functools.partial(write_json, report, args.out)
            train_shape(name, cfg, args, device, Path(tmp), report["training"][name], save)
    if not args.small:
        report["goals"] = goals(report)
    write_json(report, args.out)
    print_tables(report)
    return report


if __name__ == "__main__":
    main()
