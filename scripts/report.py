"""Collect the results.json of runs and multiruns into markdown tables and PNG plots.

Usage: python scripts/report.py DIR [DIR ...] [--out NEW.md | --update FILE.md]
       [--plots-dir DIR] [--paper docs/paper_results.json] [--margins agch] [--tasks train]
       [--selection-ref OVERRIDES]

Nothing is written into the repository unless asked for: by default the markdown goes to
standard output and no plot is drawn. --out writes a NEW file (an existing one is refused, as
is a plot the --plots-dir holds already, unless --overwrite: src/utils/outputs.py);
--update rewrites only the part of an existing file between the lines BEGIN and END (below),
so the commentary of docs/results.md stays; --plots-dir writes the PNGs into that folder.
Regenerate docs/results.md and its figures from the archived runs with:

    python scripts/report.py results --update docs/results.md --plots-dir docs/figures \\
        --paper docs/paper_results.json --overwrite

The headline table comes first (src/report/headline.py: per dataset every method at every code
length, mean ± standard error over seeds, the best of each code length in bold, the time per
run), between its own marker lines when the --update file has them (src/report/markers.py).
Rows group runs by (dataset, method, variant, bits) (src/report/runs.py), a dataset with runs
of several stores (feature widths) split by store (src/report/stores.py); the tables are those
of src/report/tables.py, the plots those of src/report/plots.py. Runs whose command chose
another number of epochs (``trainer.max_epochs=N``) are reported apart, a section per N with
the same tables among themselves (src/report/protocols.py). Only official runs
(data.val_mode=official) enter them; held-out selection runs (data.val_mode=heldout) get their
own section of validation mAP (src/report/selection.py), each setting against the one named by
--selection-ref (default: the experiment as configured). Files that cannot be used are
listed on standard error with the reason and left out. Bad input (no usable run, an --out or a
plot that exists without --overwrite, an --update file without the markers, an unreadable
--paper file, an unwritable output) is one line ``error: <file>: <what was expected>`` with
exit status 2.
"""

import argparse
import os
import re
import sys
from pathlib import Path

import rootutils

ROOT = rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.report.defaults import defaults_tables  # noqa: E402 (this checkout's src)
from src.report.headline import headline_tables  # noqa: E402
from src.report.health import health_tables  # noqa: E402
from src.report.margins import (  # noqa: E402
    DEFAULT_MARGINS,
    KNOWN_METHODS,
    check_margins,
    method_name,
)
from src.report.markers import (  # noqa: E402
    BEGIN,
    END,
    HEADLINE_BEGIN,
    HEADLINE_END,
    check_target,
    has_headline,
    splice,
)
from src.report.plots import plot_curves, plot_map_vs_bits  # noqa: E402
from src.report.protocols import EPOCHS_KEY, by_epochs, protocol_note  # noqa: E402
from src.report.runs import (  # noqa: E402
    Key,
    Run,
    collect,
    group,
    split_modes,
)
from src.report.run_skips import no_runs_error, task_flag  # noqa: E402
from src.report.selection import overrides_flag, reference, selection_tables  # noqa: E402
from src.report.stores import label_stores  # noqa: E402
from src.report.tables import (  # noqa: E402
    ablation_tables,
    bits_tables,
    load_paper,
    margin_tables,
    markdown,
)
from src.utils.errors import (  # noqa: E402
    output_path,
    ArgumentParser,
    DataError,
    existing_path,
    one_line_errors,
)
from src.utils.io import write_text_atomic  # noqa: E402
from src.utils.outputs import add_overwrite_flag, check_overwrite  # noqa: E402

SELECTION_NOTE = (
    "Runs with `data.val_mode=heldout`: their validation pairs were removed from training and "
    "searched against the remaining training items. Validation mAP@50 of the last epoch, mean "
    "± sample std over seeds; the change is setting minus reference paired by seed, with "
    "its 95 % paired t-interval (above/below: the interval excludes 0). Hyper-parameters "
    "and defaults are chosen on "
    "these numbers; their test numbers (models trained on fewer items) are not protocol "
    "numbers and appear in no table above.\n\n"
)
HEALTH_NOTE = (
    "Each trained module's figures at the end of the run (src/callbacks/health.py; docs/model.md, "
    '"Training health"): `weight_change` is its distance from the initial weights relative to '
    "their norm, `own_loss_ratio` its own loss terms at the last epoch over the first, "
    "`pairwise_cos` the mean pairwise cosine of its codes in a batch (near 1: all alike). Runs "
    "made before the figures existed are not listed.\n\n"
)

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="folders searched for results.json")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--out",
        type=output_path("file"),
        help="new markdown file in an existing folder (default: standard output)",
    )
    add_overwrite_flag(parser, "--out file or plot")
    target.add_argument(
        "--update",
        type=existing_path("file"),
        help=f"existing markdown file: rewrite between {BEGIN} and {END}",
    )
    parser.add_argument(
        "--plots-dir",
        type=output_path("dir"),
        help="folder of the PNG plots, made if its parent exists (default: none)",
    )
    parser.add_argument(
        "--paper",
        type=existing_path("file"),
        default=None,
        help="JSON of the paper's numbers, shown beside",
    )
    parser.add_argument(
        "--margins",
        type=method_name,
        metavar="METHOD",
        help=f"method compared with each other one, per cell, one of {KNOWN_METHODS} ('' for "
        f"none; default {DEFAULT_MARGINS})",
    )
    parser.add_argument(
        "--selection-ref",
        type=overrides_flag,
        default="",
        metavar="OVERRIDES",
        help="setting the held-out runs are compared with, e.g. model.loss_scale=tuned "
        "(overrides joined by ','; default: the experiment as configured)",
    )
    tasks_help = "task_name values kept (none: all)"
    parser.add_argument("--tasks", nargs="*", type=task_flag, default=["train"], help=tasks_help)
    return parser.parse_args(argv)


def report_text(
    groups: dict[Key, list[Run]],
    heldout: dict[Key, list[Run]],
    args: argparse.Namespace,
    n_skipped: int,
    paper: dict,
) -> str:
    """Every table of the report, markdown: the protocol tables of the official runs
    ``groups``, then the held-out validation of the selection runs ``heldout``."""
    text = markdown(groups, [str(d) for d in args.dirs], n_skipped, heldout)
    by_bits = bits_tables(groups, paper)  # empty when no run is an experiment as configured
    if by_bits:
        text += "\n## mAP@50 against code length\n\n" + by_bits
    margins = margin_tables(groups, args.margins) if args.margins else ""
    if margins:
        text += f"\n## {args.margins} against the other methods (difference of means, "
        text += "95 % Welch t-interval)\n\n"
        text += margins
    if any(key[2] for key in groups):
        text += "\n## Ablations and other variants (mAP@50; change paired by seed, 95 % "
        text += "t-interval)\n\n"
        text += ablation_tables(groups)
        text += defaults_tables(groups)
    health = health_tables(groups)
    if health:
        text += "\n## Training health (last epoch; mean and range over seeds)\n\n" + HEALTH_NOTE
        text += health
    return text + heldout_text(heldout, args)


def heldout_text(heldout: dict[Key, list[Run]], args: argparse.Namespace) -> str:
    """The section of the held-out selection runs ``heldout`` ("" without any)."""
    if not heldout:
        return ""
    text = "\n## Held-out validation (selection runs)\n\n" + SELECTION_NOTE
    return text + selection_tables(heldout, reference(args.selection_ref))


def demote(text: str) -> str:
    """Markdown headings one level deeper (a protocol's tables inside its section)."""
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)


def protocol_sections(
    official: list[Run],
    selection: list[Run],
    args: argparse.Namespace,
    n_skipped: int,
    draw: bool = True,
) -> tuple[str, list[Path]]:
    """The tables (and, with --plots-dir, the plots) of the runs of each training length:
    those of the configured epochs as the protocol tables; the runs of each other N in a
    section of their own, opened by one line (:func:`protocol_note`), without the paper's
    numbers. Returns (markdown, plot paths); without ``draw``, no plot is drawn."""
    paper = load_paper(args.paper)
    lengths, held = by_epochs(official), by_epochs(selection)
    shortened = sorted({n for n in [*lengths, *held] if n is not None})
    text, plots = "", []
    if shortened:
        text += (
            f"Runs trained for another number of epochs than their experiments' "
            f"(`{EPOCHS_KEY}=N`, N = {', '.join(map(str, shortened))}) are reported apart, a "
            "section per N below; the protocol tables hold the configured epochs only.\n\n"
        )
    for epochs in [None, *shortened]:
        groups, heldout = group(lengths.get(epochs, [])), group(held.get(epochs, []))
        if epochs is None and shortened and not groups and not heldout:
            continue
        if epochs is None or groups:
            part = report_text(groups, heldout, args, n_skipped, paper if epochs is None else {})
        else:  # held-out runs only: no empty table of official runs
            part = heldout_text(heldout, args)
        if epochs is not None:
            n_runs = len(lengths.get(epochs, [])) + len(held.get(epochs, []))
            part = f"\n## Runs of {epochs} epochs\n\n{protocol_note(epochs, n_runs)}\n\n" + (
                demote(part)
            )
        text += part
        if args.plots_dir is not None:
            plots += plot_map_vs_bits(
                groups, args.plots_dir, paper if epochs is None else {}, epochs, draw
            )
            plots += plot_curves(groups, args.plots_dir, epochs, draw)
    return text, plots


def run(args: argparse.Namespace) -> None:
    """Check the targets, read the runs, write the plots and the markdown."""
    for folder in args.dirs:
        if not folder.exists():
            raise DataError(folder, None, "no such file or folder (give folders of runs)")
    old = check_target(args)  # also: no output is an input (`check_sources_apart`)
    tasks = set(args.tasks) if args.tasks else None
    runs, skipped = collect(args.dirs, tasks)
    if not runs:  # one line: why none is usable (the skipped files' lines would be more)
        raise no_runs_error(args.dirs, tasks, skipped)
    runs = label_stores(runs)  # a dataset's stores apart (src/report/stores.py)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    check_margins(args, runs)
    official, selection = split_modes(runs)
    if args.plots_dir is not None:  # the plots it would replace, before any is drawn
        planned = protocol_sections(official, selection, args, len(skipped), draw=False)[1]
        check_overwrite(planned, "--plots-dir", args.overwrite)
    text, plots = protocol_sections(official, selection, args, len(skipped))
    headline = headline_tables(group(by_epochs(official).get(None, [])))
    target = args.out or args.update
    base = target.parent if target is not None else Path.cwd()
    links = [f"![{p.stem}]({os.path.relpath(p, base)})" for p in plots]
    block = text + ("\n## Plots\n\n" + "\n\n".join(links) + "\n" if links else "")
    if old is None or not has_headline(old):  # the headline heads the tables
        block = headline + block
    if target is None:
        sys.stdout.write(f"# Results\n\n{block}")
        return
    if old is None:
        new = f"# Results\n\n{BEGIN}\n{block}{END}\n"
    else:  # hand-written text around the markers stays as it is
        new = splice(old, BEGIN, END, block)
        if has_headline(old):
            new = splice(new, HEADLINE_BEGIN, HEADLINE_END, headline)
    write_text_atomic(target, new, "--out" if args.out else "--update")
    where = f"; {len(plots)} plots in {args.plots_dir}" if args.plots_dir else ""
    if args.plots_dir and not plots:
        where += " (plots are drawn for experiments as configured, official runs without "
        where += "overrides; none of these runs is one)"
    n_rows = len(group(official))
    print(f"{len(runs)} runs in {n_rows} rows -> {target}{where}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the report; a bad input is one ``error:`` line and exit status 2."""
    args = parse_args(argv)
    with one_line_errors(SCRIPT):
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
