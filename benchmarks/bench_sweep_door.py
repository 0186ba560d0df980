"""The cost of a sweep's door (src/utils/sweep_door.py): every job of ``src/<script> -m
OVERRIDES`` composed and checked as the door does before the first job runs, in-process,
without launching any. Prints the number of jobs, the door's exit status (0: every job passes,
2: one was refused, its lines on stderr), its wall-clock and CPU seconds.

    python -m benchmarks.bench_sweep_door [--script train] 'experiment=glob(wiki_*bit)' seed=0,1,2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

ROOT = Path(__file__).resolve().parents[1]


def door_cost(script: str, overrides: list[str]) -> tuple[int, int, float, float]:
    """(jobs, exit status, wall seconds, CPU seconds) of the door of ``script``'s multirun of
    ``overrides``, composed as Hydra composes a ``-m`` command."""
    from src.utils.run_dirs import register_resolvers
    from src.utils.sweep_door import check_sweep, use_door
    from src.utils.sweep_jobs import sweep_jobs

    if script == "train":
        from src.train import train_door as door
    else:
        from src.eval import eval_door as door
    register_resolvers()
    use_door(door)
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        config = loader.load_configuration(
            script, [*overrides, "hydra.mode=MULTIRUN"], run_mode=RunMode.MULTIRUN
        )
        jobs = len(sweep_jobs(config, loader))
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            check_sweep(config)
            status = 0
        except SystemExit as exit_:
            status = int(exit_.code)
        return jobs, status, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(prog="bench_sweep_door.py", description=__doc__)
    parser.add_argument("--script", choices=("train", "eval"), default="train")
    parser.add_argument("overrides", nargs="+", help="the sweep's overrides, as after -m")
    args = parser.parse_args()
    jobs, status, wall, cpu = door_cost(args.script, args.overrides)
    print(f"{jobs} jobs, door exit {status}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
