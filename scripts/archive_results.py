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
docs/results.md). It never overwrites another run's files: a run whose folder holds another
run's results.json is refused before anything is written (one line naming the file, exit status
2) unless --overwrite is given (src/utils/outputs.py), which replaces that run's files; the
same run archived again is no conflict.

Every results.json is checked before anything is written (src/report/schema.py): a JSON
object of the schema src/train.py writes, whose dataset and method are plain names
([A-Za-z0-9_.=,+-], not . or ..), so that no value can place files outside --dest; a bad one
is one line ``error: <results.json> [<key>]: <what was expected>`` with exit status 2 and
nothing archived. The overrides' folder name is made plain (other characters become _) and
bounded (`variant_folder`: a readable prefix and a hash of the whole when longer than 200
bytes); report.py groups runs by the overrides inside results.json, never by folder names.

    python scripts/archive_results.py logs/train/multiruns/2026-11-21_20-59-00 --dest results
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

import rootutils

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.report.runs import HELDOUT, Skip, setting  # noqa: E402 (this checkout's src)
from src.report.schema import (  # noqa: E402
    MAX_PATH_PART,
    check_record,
    read_record,
)
from src.utils.errors import (  # noqa: E402
    ArgumentParser,
    DataError,
    existing_path,
    one_line_errors,
    output_path,
)
from src.utils.outputs import add_overwrite_flag, check_apart, check_overwrite  # noqa: E402

EVIDENCE = ("results.json", "curves.json")
PATH_KEYS = ("dataset", "method", "code_length", "seed")  # the fields that make the folder
HASH_CHARS = 12  # hex digits of sha256 that tell apart long variants with one prefix

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def variant_folder(variant: str) -> str:
    """``variant`` (overrides joined by ",") as one plain folder name: characters outside
    [A-Za-z0-9_.=,+-] become "_"; a name over `MAX_PATH_PART` bytes is cut to a readable
    prefix + "-" + the first `HASH_CHARS` hex digits of the sha256 of the whole variant."""
    name = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", variant)
    if len(name) > MAX_PATH_PART:  # ASCII only now: one byte a character
        digest = hashlib.sha256(variant.encode()).hexdigest()[:HASH_CHARS]
        name = f"{name[: MAX_PATH_PART - HASH_CHARS - 1]}-{digest}"
    return name


def target_of(run_dir: Path, dest: Path) -> tuple[Path | None, str]:
    """(folder in ``dest``, "") for a run to archive, (None, reason) for one that is not
    archived (synthetic data, a failed sweep job). Writes nothing; raises DataError for a bad
    results.json."""
    path = run_dir / "results.json"
    data = read_record(path)
    status = data.get("status", "completed")
    if status in ("failed", "incomplete"):  # a failed sweep job, a run without some metrics
        return None, f"status {status} ({data.get('error')}), not archived"
    check_record(path, data, PATH_KEYS)  # dataset and method plain folder names too
    if data.get("synthetic"):
        return None, "synthetic data, not archived as a result"
    try:
        mode, var = setting(data)  # the overrides beyond the experiment and data.val_mode
    except Skip as reason:
        raise DataError(path, "overrides", str(reason)) from None
    target = dest / data["dataset"] / data["method"] / f"{data['code_length']}bit"
    if mode == HELDOUT:  # a selection run: never among the runs of the protocol tables
        target = target / HELDOUT / (variant_folder(var) or "configured")
    elif var:  # an ablation or another non-default setting: apart from the experiment's runs
        target = target / variant_folder(var)
    return target / f"seed{data['seed']}", ""


def check_targets(targets: list[tuple[Path, Path | None, str]], overwrite: bool) -> None:
    """Before anything is written: refuse (DataError) a run whose folder in the archive is
    a source run folder, lies inside one or holds one (`check_apart`), a run whose folder
    holds another run's results.json (unless ``overwrite``: `check_overwrite`), and two runs
    of this command that differ but go to one folder (the second would replace the first)."""
    found: dict[Path, Path] = {}
    for run_dir, target, _ in targets:
        if target is None:
            continue
        check_apart(target, [source for source, _, _ in targets], "--dest", folder=True)
        record = (run_dir / "results.json").read_bytes()
        first = found.setdefault(target, run_dir)
        if first != run_dir and (first / "results.json").read_bytes() != record:
            raise DataError(
                run_dir / "results.json",
                "--dest",
                f"expected one run per folder of the archive, found another run of this "
                f"command for {target} ({first}); archive one of them",
            )
        kept = target / "results.json"
        if kept.is_file() and kept.read_bytes() != record:
            check_overwrite([kept], "--dest", overwrite, " (another run's results.json)")


def archive(run_dir: Path, target: Path) -> Path:
    """Copy one run's evidence files into ``target`` (checked: `check_targets`); an evidence
    file the run lacks is removed there (another run's, replaced with --overwrite)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in EVIDENCE:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
        elif (target / name).is_file():
            (target / name).unlink()
    return target


def build_parser() -> argparse.ArgumentParser:
    """The flags; a bad one is one ``error:`` line and exit 2 (src/utils/errors.py)."""
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=existing_path("dir"), help="run or sweep folders")
    parser.add_argument("--dest", type=output_path("dir"), default=Path("results"))
    add_overwrite_flag(parser, "run's files in --dest (another run's results.json there)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Check every run's results.json and its folder in the archive, then copy; 0 when a run
    went, 2 for a bad input or another run's files in a folder without --overwrite (nothing
    written) or when nothing was archived (no results.json, or every run skipped: each
    skip's line says why, then one ``error:`` line sums up)."""
    args = build_parser().parse_args(argv)
    found = sorted({p.parent for d in args.dirs for p in d.rglob("results.json")})
    with one_line_errors(SCRIPT):  # every record is checked before anything is written
        check_apart(args.dest, args.dirs, "--dest")  # never into a source folder
        targets = [(run_dir, *target_of(run_dir, args.dest)) for run_dir in found]
        check_targets(targets, args.overwrite)
    archived = 0
    for run_dir, target, reason in targets:
        try:
            if target is None:
                raise ValueError(reason)
            print(f"{run_dir} -> {archive(run_dir, target)}")
            archived += 1
        except (OSError, ValueError) as err:
            print(f"skipped {run_dir}: {err}", file=sys.stderr)
    if archived == 0:
        folders = ", ".join(str(d) for d in args.dirs)
        why = f"all {len(found)} runs found were skipped (above)" if found else "no results.json"
        print(
            f"error: {SCRIPT}: {folders}: nothing archived, {why}; expected at least one "
            "completed run",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
