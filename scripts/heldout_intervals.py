"""Held-out selection runs compared pair by pair, with paired 95 % t-intervals and the
training-health figures of each setting (docs/model.md, "Making AGCH's parts learn").

FOLDER holds archived held-out runs, one sub-folder per setting (``results/<dataset>/
<method>/<bits>bit/heldout/<setting>/seed<seed>/results.json``, scripts/archive_results.py).
Each ``--pair SETTING:BASE`` (folder names) gives a row: the setting's last-epoch validation
mAP@50 of each direction and of their mean (mean ± sample std over seeds; "-" where a run lacks
it), its change from BASE paired by seed with the 95 % t-interval (n - 1 degrees of freedom)
and its reading, and the mean of each GCN's final weight change, own-loss ratio and codes'
pairwise cosine (AGCH; "-" for other methods).
Each ``--modules SETTING`` prints the health figures of every module of that setting.

    python scripts/heldout_intervals.py results/wiki/agch/32bit/heldout \\
        --pair "trainer.max_epochs=30:model.adjacency=S,...,trainer.max_epochs=30"
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.report.intervals import interval_reading, paired_t_interval  # noqa: E402
from src.report.runs import mean_std  # noqa: E402
from src.report.schema import check_record, read_record  # noqa: E402
from src.utils.errors import (  # noqa: E402
    ArgumentParser,
    ConfigError,
    DataError,
    existing_path,
    one_line_errors,
)

# the two directions and their mean (val/map@50: the figure a selection rule can ask for)
DIRECTIONS = {"I->T": "val/i2t_map@50", "T->I": "val/t2i_map@50", "mean": "val/map@50"}
HEALTH = ("weight_change", "own_loss_ratio", "pairwise_cos")

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def load(folder: Path) -> dict[int, dict[str, float]]:
    """Seed -> metrics of the runs under ``folder``. Raises DataError when there are none,
    or naming the file and field when one is unreadable or breaks src/report/schema.py."""
    runs = {}
    for path in sorted(folder.glob("seed*/results.json")):
        data = read_record(path)  # a bad file: one line naming it and the field, exit 2
        check_record(path, data, ("seed", "metrics"))
        if data.get("val_mode") != "heldout":  # official runs validate on training items
            got = data.get("val_mode", "official (no val_mode)")
            raise DataError(
                path, "val_mode", f"expected a held-out selection run (heldout), got {got!r}"
            )
        runs[data["seed"]] = data["metrics"]
    if not runs:
        raise DataError(
            folder, None, "expected a folder of archived runs (seed*/results.json), found none"
        )
    return runs


def settings(folder: Path) -> list[str]:
    """The settings under ``folder`` (its sub-folders holding seed*/results.json); DataError
    when there is none: a folder without held-out runs is said so, never a silent exit 0."""
    found = sorted(p.parent.parent.name for p in folder.glob("*/seed*/results.json"))
    if not found:
        below = sorted(str(p) for p in folder.glob("**/heldout") if p.is_dir())[:5]
        hint = f"; held-out folders below it: {', '.join(below)}" if below else ""
        raise DataError(
            folder,
            None,
            "expected a folder of held-out runs (<setting>/seed<seed>/results.json, "
            f"results/<dataset>/<method>/<bits>bit/heldout), found none directly in it{hint}",
        )
    return sorted(set(found))


def spread(values: list[float | None]) -> str:
    """Mean ± sample standard deviation as a cell (the mean alone for one run; "-" when a value
    is missing)."""
    if any(v is None for v in values):
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def change(runs: dict, base: dict, metric: str) -> str:
    """The paired change of ``metric`` from ``base`` as a cell."""
    shared = [s for s in sorted(runs) if s in base]
    if any(metric not in runs[s] or metric not in base[s] for s in shared):
        return "-"
    diffs = [runs[s][metric] - base[s][metric] for s in shared]
    if len(diffs) < 2:
        return f"{diffs[0]:+.3f} (n=1)" if diffs else "no shared seed"
    mean, low, high = paired_t_interval(diffs)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] ({interval_reading(low, high)}, n={len(diffs)})"


def health(runs: dict, figure: str) -> str:
    values = [
        [m.get(f"health/{gcn}/{figure}", math.nan) for m in runs.values()]
        for gcn in ("gcn_image", "gcn_text")
    ]
    if any(math.isnan(v) for column in values for v in column):
        return "-"
    return " / ".join(f"{sum(column) / len(column):.3f}" for column in values)


def module_table(name: str, runs: dict[int, dict[str, float]]) -> None:
    """Per module of a setting: each health figure's mean over its seeds."""
    modules = sorted(
        {k.split("/")[1] for m in runs.values() for k in m if k.startswith("health/")}
    )
    print(f"\n`{name}`, seeds {', '.join(map(str, sorted(runs)))}: mean over seeds\n")
    print("| module | " + " | ".join(HEALTH) + " |\n|---|" + "---|" * len(HEALTH))
    for module in modules:
        cells = []
        for figure in HEALTH:
            values = [m.get(f"health/{module}/{figure}") for m in runs.values()]
            known = [v for v in values if v is not None]
            cells.append(f"{sum(known) / len(known):.4f}" if known else "-")
        print(f"| {module} | " + " | ".join(cells) + " |")


def setting_pair(text: str) -> str:
    """An argparse ``type``: ``SETTING:BASE``, two non-empty names."""
    name, colon, base = text.partition(":")
    if not (name and colon and base):
        raise argparse.ArgumentTypeError(f"expected SETTING:BASE, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The flags; a bad one is one ``error:`` line and exit 2 (src/utils/errors.py)."""
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=existing_path("dir"))
    parser.add_argument(
        "--pair", action="append", default=[], type=setting_pair, metavar="SETTING:BASE"
    )
    parser.add_argument("--modules", action="append", default=[], metavar="SETTING")
    return parser


def main(argv: list[str]) -> None:
    """Print the tables; a bad input is one ``error:`` line naming the script, exit 2."""
    args = build_parser().parse_args(argv)
    with one_line_errors(SCRIPT):
        tables(args)


def tables(args: argparse.Namespace) -> None:
    """The --modules tables, then the --pair table (see the module docstring)."""
    found = settings(args.folder)
    if not (args.pair or args.modules):
        raise ConfigError(
            f"expected --pair SETTING:BASE or --modules SETTING (settings under {args.folder}: "
            f"{', '.join(found)})"
        )
    names = [*args.modules, *(p for pair in args.pair for p in pair.partition(":")[::2])]
    loaded = {name: load(args.folder / name) for name in names}  # all read before any print
    for pair in args.pair:  # trial 10: configured:configured printed all-zero intervals
        name, _, base_name = pair.partition(":")
        if (args.folder / name).resolve() == (args.folder / base_name).resolve():
            raise ConfigError(
                f"argument --pair: {pair} compares {args.folder / name} with itself; expected "
                f"two different settings (settings under {args.folder}: {', '.join(found)})"
            )
    for name in args.modules:
        module_table(name, loaded[name])
    if not args.pair:
        return
    head = ["setting", "seeds", *(f"val {d}" for d in DIRECTIONS), "compared with"]
    head += [f"{d} change [95 % t-interval]" for d in DIRECTIONS] + [f"GCN {h}" for h in HEALTH]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for pair in args.pair:
        name, _, base_name = pair.partition(":")
        runs, base = loaded[name], loaded[base_name]
        row = [f"`{name}`", ", ".join(map(str, sorted(runs)))]
        row += [spread([m.get(k) for m in runs.values()]) for k in DIRECTIONS.values()]
        row += [f"`{base_name}`", *(change(runs, base, k) for k in DIRECTIONS.values())]
        print("| " + " | ".join(row + [health(runs, h) for h in HEALTH]) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
