"""The CPU cost of a real AGCH Wiki epoch (`src/train.py experiment=wiki_agch_32bit`, the
Wiki store in data/) at two or more commits of the project, interleaved: each repetition
runs every source tree once (the order alternating between repetitions), each run trains
`--epochs` epochs with validation, and `epoch_clock.EpochClock` records each whole epoch
(training, validation, checkpoint writes, figures): CPU time (user + system), wall time,
minor page faults, bytes written. Epoch 0 (warm-up) and the last epoch (its end-of-fit
writes) are reported apart from the steady ones between them. Trees are exported commits
(`git archive <commit> | tar -x -C <dir>`, with data/wiki.h5 linked in), so that each run
imports its own `src`. Not a test. From the repository root:

    OMP_NUM_THREADS=1 python -m benchmarks.bench_epoch --trees /tmp/before /tmp/after \
        --epochs 4 --repeats 2 [--override model.adjacency=2S-1 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_tree(tree: Path, epochs: int, overrides: list[str], work: Path) -> list[dict]:
    """One training run of the tree; the per-epoch records of `EpochClock`."""
    out, run_dir = work / "clock.json", work / "run"
    cmd = [
        sys.executable, "src/train.py", "experiment=wiki_agch_32bit",
        f"trainer.max_epochs={epochs}", "test=false", f"hydra.run.dir={run_dir}",
        "+callbacks.epoch_clock._target_=epoch_clock.EpochClock",
        f"+callbacks.epoch_clock.out={out}", *overrides,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{HERE}"}
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
    records = json.loads(out.read_text())
    shutil.rmtree(run_dir)  # the checkpoints (hundreds of MB)
    out.unlink()
    return records


def spread(values: list[float], fmt: str) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def table(runs: dict[str, list[list[dict]]], base: str) -> None:
    """Steady epochs (1 .. E-2) of each tree, and their CPU time over the first tree's."""
    print("| tree | epochs timed | epoch CPU s | / first tree | epoch wall s | minor faults "
          "per epoch | MB written per epoch | last epoch CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    ref = statistics.median(e["cpu_s"] for run in runs[base] for e in run[1:-1])
    for name, rs in runs.items():
        steady = [e for run in rs for e in run[1:-1]]
        cpu = [e["cpu_s"] for e in steady]
        print(
            f"| {name} | {len(steady)} | {spread(cpu, '.2f')} | "
            f"{statistics.median(cpu) / ref:.3f} | "
            f"{spread([e['wall_s'] for e in steady], '.1f')} | "
            f"{spread([e['minflt'] for e in steady], '.0f')} | "
            f"{spread([e['wchar'] / 1e6 for e in steady], '.1f')} | "
            f"{spread([run[-1]['cpu_s'] for run in rs], '.2f')} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=Path, nargs="+", required=True)
    parser.add_argument("--epochs", type=int, default=4, help="at least 3")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--override", nargs="*", default=[], help="Hydra overrides, every tree")
    args = parser.parse_args(argv)
    if args.epochs < 3:
        print(f"error: --epochs: expected at least 3, got {args.epochs}", file=sys.stderr)
        return 2
    runs: dict[str, list[list[dict]]] = {str(t): [] for t in args.trees}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for tree in args.trees[:: 1 if repeat % 2 == 0 else -1]:
                records = run_tree(tree.resolve(), args.epochs, args.override, Path(tmp))
                runs[str(tree)].append(records)
                cpu = ", ".join(f"{e['cpu_s']:.2f}" for e in records)
                print(f"  repeat {repeat} {tree}: epoch CPU s {cpu}", file=sys.stderr, flush=True)
    table(runs, str(args.trees[0]))
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
