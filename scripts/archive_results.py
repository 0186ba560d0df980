"""Copy the small evidence files of runs (results.json, curves.json) into results/.

Each run lands in ``results/<dataset>/<method>/<bits>bit/seed<seed>/`` (a run with
result-changing overrides beyond its experiment, such as an ablation, in
``results/<dataset>/<method>/<bits>bit/<overrides>/seed<seed>/``, see src/utils/run_setting.py),
and each held-out selection run (``data.val_mode=heldout``, docs/data.md) in
``results/<dataset>/<method>/<bits>bit/heldout/<overrides>/seed<seed>/`` (``configured`` for no
overrides), never in the folders of the official runs. So
``python scripts/report.py results --update docs/results.md`` regenerates the tables of
docs/results.md from files kept in the repository (checkpoints and logs stay in logs/,
which git ignores; the full command, with the paper's numbers and the plots, is at the top of
docs/results.md). It never overwrites another run's files (exit status 1 when it refused one).

    python scripts/archive_results.py logs/train/multiruns/2026-11-21_20-59-00 --dest results
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import rootutils

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.report.runs import HELDOUT, Skip, setting  # noqa: E402 (this checkout's src)
from src.utils.errors import ArgumentParser, existing_path, output_path  # noqa: E402

EVIDENCE = ("results.json", "curves.json")


class Conflict(ValueError):
    """The run's folder in the archive holds another run's results.json."""


def archive(run_dir: Path, dest: Path) -> Path:
    """Copy one run's evidence files; return the folder they went to."""
    results = json.loads((run_dir / "results.json").read_text())
    if results.get("synthetic"):
        raise ValueError(f"{run_dir}: synthetic data, not archived as a result")
    status = results.get("status", "completed")  # runs written before the key: completed
    if status != "completed":  # a failed sweep job (src/utils/jobs.py)
        raise ValueError(f"{run_dir}: status {status} ({results.get('error')}), not archived")
    bits = results.get("code_length")
    target = dest / str(results["dataset"]) / str(results["method"]) / f"{bits}bit"
    mode, var = setting(results)  # var: the overrides beyond the experiment and data.val_mode
    folder = var.replace("/", "_")
    if mode == HELDOUT:  # a selection run: never among the runs of the protocol tables
        target = target / HELDOUT / (folder or "configured")
    elif folder:  # an ablation or another non-default setting: apart from the experiment's runs
        target = target / folder
    target = target / f"seed{results['seed']}"
    kept = target / "results.json"
    if kept.is_file() and kept.read_bytes() != (run_dir / "results.json").read_bytes():
        raise Conflict(f"{kept} holds another run; not overwritten (remove it first)")
    target.mkdir(parents=True, exist_ok=True)
    for name in EVIDENCE:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
    return target


def build_parser() -> argparse.ArgumentParser:
    """The flags; a bad one is one ``error:`` line and exit 2 (src/utils/errors.py)."""
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=existing_path("dir"), help="run or sweep folders")
    parser.add_argument("--dest", type=output_path("dir"), default=Path("results"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    found = sorted({p.parent for d in args.dirs for p in d.rglob("results.json")})
    conflicts = 0
    for run_dir in found:
        try:
            print(f"{run_dir} -> {archive(run_dir, args.dest)}")
        except (OSError, KeyError, ValueError, Skip) as err:  # synthetic, failed, unreadable
            print(f"skipped {run_dir}: {err}", file=sys.stderr)
            conflicts += isinstance(err, Conflict)
    return 0 if found and not conflicts else 1  # 1: nothing found, or a run refused


if __name__ == "__main__":
    sys.exit(main())
