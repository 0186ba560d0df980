"""The marker lines of a markdown file that scripts/report.py --update rewrites between.

docs/results.md keeps its hand-written text; the generated parts go between marker lines: the
tables and plots between ``BEGIN`` and ``END`` (required), the headline table
(src/report/headline.py) between ``HEADLINE_BEGIN`` and ``HEADLINE_END`` (optional: a file
without them gets the headline at the top of the ``BEGIN`` block). Everything outside the
markers stays as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from src.utils.errors import DataError
from src.utils.io import check_output_path
from src.utils.outputs import check_apart, check_overwrite

BEGIN, END = "<!-- report.py: begin -->", "<!-- report.py: end -->"
HEADLINE_BEGIN = "<!-- report.py: headline begin -->"
HEADLINE_END = "<!-- report.py: headline end -->"


def span(text: str, begin: str, end: str) -> tuple[int, int] | None:
    """(start of ``begin``, end of ``end``) of the first ``begin`` followed by an ``end``, or
    None when there is none."""
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    return None if stop < 0 else (start, stop + len(end))


def markers_problem(text: str) -> str | None:
    """What is wrong with the markers of a file to --update, in words (None when fine): the
    ``BEGIN ... END`` lines are required; the headline lines, when either is there, must come
    as a pair outside the ``BEGIN ... END`` block."""
    main = span(text, BEGIN, END)
    if main is None:
        return f"expected the lines {BEGIN} ... {END} to rewrite between"
    if HEADLINE_BEGIN not in text and HEADLINE_END not in text:
        return None
    head = span(text, HEADLINE_BEGIN, HEADLINE_END)
    if head is None or not (head[1] <= main[0] or head[0] >= main[1]):
        return (
            f"expected the lines {HEADLINE_BEGIN} ... {HEADLINE_END} as a pair outside "
            f"{BEGIN} ... {END}"
        )
    return None


def has_headline(text: str) -> bool:
    """Whether ``text`` has the headline's marker lines (checked by :func:`markers_problem`)."""
    return span(text, HEADLINE_BEGIN, HEADLINE_END) is not None


def splice(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with what lies between its ``begin`` and ``end`` lines replaced by ``block``
    (which ends with a newline)."""
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{block}{end}{rest.split(end, 1)[1]}"


def check_target(args: argparse.Namespace) -> str | None:
    """Check scripts/report.py's markdown target before anything is written: a new --out
    (an existing one only with --overwrite: `check_overwrite`) or an --update file with its
    markers; return the text of the --update file (None for --out or standard output).
    Raises DataError naming the file. First: no target is an input (`check_sources_apart`)."""
    check_sources_apart(args)
    if args.out is not None:  # a new file (unless --overwrite) in an existing folder
        check_overwrite([args.out], "--out", args.overwrite)
        check_output_path(args.out, "--out")
        return None
    if args.update is None:
        return None
    try:
        old = args.update.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(args.update, None, f"expected a readable markdown file ({err})") from err
    problem = markers_problem(old)
    if problem:
        raise DataError(args.update, None, problem)
    check_output_path(args.update, "--update")
    return old


def check_sources_apart(args: argparse.Namespace) -> None:
    """Before anything is read or written: --out, --update and --plots-dir are none of the
    inputs -- the run folders found under the given folders (their results.json, curves.json)
    and --paper -- nor inside a run folder (`check_apart`)."""
    found = [p for d in args.dirs for p in Path(d).rglob("results.jso[n]")]
    files = [p.parent / name for p in found for name in ("results.json", "curves.json")]
    files += [d for d in args.dirs if not d.is_dir()] + ([args.paper] if args.paper else [])
    folders = sorted({q for p in found for q in (p.parent, p.resolve().parent)})
    for flag, path in (
        ("--out", args.out),
        ("--update", args.update),
        ("--plots-dir", args.plots_dir),
    ):
        if path is not None:  # a file read named first, then the run folder it lies in
            check_apart(path, [*files, *folders], flag)
