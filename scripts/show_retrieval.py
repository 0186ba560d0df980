"""Draw the retrieval gallery of a run's codes: N queries x their top-k results, relevance marked.

Usage: python scripts/show_retrieval.py CODES.h5 --source RELEASE_DIR --out gallery.png
       [--direction t2i|i2t] [--queries 4] [--top 6] [--seed 0] [--store STORE.h5]

CODES.h5 is what ``python src/eval.py ckpt_path=... data=news export_codes=true`` writes (its
attributes name the store's dataset and source files; ``--store`` supplies them for an older
file). ``--source`` is the release folder the store was made from (news: the folder given to
``prepare_data.py news --source``); its lists are checked against the store's record. The
figure (src/report/gallery.py) is written atomically; nothing else is written; an existing --out
is refused and kept unless --overwrite is given (src/utils/outputs.py). A store whose
raw items are not at hand (Wiki, UCI, MIRFlickr, NUS-WIDE, or no folder) is one line
``error: ...: no retrieval gallery: ...`` with exit status 2, as is any bad input.
"""

import sys
from pathlib import Path

import rootutils

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.data.raw_items import RawUnavailable, raw_items  # noqa: E402 (this checkout's src)
from src.report.gallery import DIRECTIONS, choose_queries, gallery_figure  # noqa: E402
from src.report.gallery_codes import read_codes  # noqa: E402
from src.report.plots import save  # noqa: E402
from src.utils.errors import ArgumentParser, DataError, integer_at_least  # noqa: E402
from src.utils.errors import check_at_most, existing_path, one_line_errors  # noqa: E402
from src.utils.errors import output_path  # noqa: E402
from src.utils.io import check_output_path  # noqa: E402
from src.utils.outputs import add_overwrite_flag, check_apart, check_overwrite  # noqa: E402

MAX_CELLS = 20  # most queries (rows) and results per query (columns) of one figure

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def parse_args(argv: list[str] | None):
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "codes", type=existing_path("file"), help="codes.h5 of src/eval.py export_codes=true"
    )
    parser.add_argument("--source", type=Path, help="release folder of the raw images and texts")
    parser.add_argument("--out", type=output_path("file"), required=True, help="PNG file to write")
    add_overwrite_flag(parser)
    parser.add_argument("--direction", choices=sorted(DIRECTIONS), default="t2i")
    # a figure of more than MAX_CELLS rows or columns is unreadable and takes minutes to draw
    parser.add_argument(
        "--queries", type=integer_at_least(1, MAX_CELLS), default=4, help="rows (queries)"
    )
    parser.add_argument(
        "--top", type=integer_at_least(1, MAX_CELLS), default=6, help="results per query"
    )
    parser.add_argument("--seed", type=integer_at_least(0), default=0, help="query draw seed")
    parser.add_argument(
        "--store", type=existing_path("file"), help="feature store (for codes.h5 without attrs)"
    )
    return parser.parse_args(argv)


def run(args) -> Path:
    """Read the codes and the raw items, draw the figure, write the PNG; returns its path."""
    sources = [p for p in (args.codes, args.store, args.source) if p is not None]
    check_apart(args.out, sources, "--out")
    check_output_path(args.out, "--out")
    check_overwrite([args.out], "--out", args.overwrite)
    codes, attrs = read_codes(args.codes, args.store)
    n_query, n_items = (len(codes[split]["index"]) for split in ("query", "retrieval"))
    check_at_most("--queries", args.queries, n_query, "the queries of this file", args.codes)
    check_at_most("--top", args.top, n_items, "the retrieval items of this file", args.codes)
    try:
        items = raw_items(attrs, args.source, int(attrs["store_rows"]))
    except RawUnavailable as reason:
        raise DataError(args.codes, None, str(reason)) from None
    queries = choose_queries(n_query, args.queries, args.seed)
    figure = gallery_figure(codes, items, args.direction, queries, args.top)
    return save(figure, args.out)


def main(argv: list[str] | None = None) -> int:
    """Draw the gallery; a bad input is one ``error:`` line and exit status 2."""
    args = parse_args(argv)
    with one_line_errors(SCRIPT):
        path = run(args)
        print(f"gallery ({args.direction}, seed {args.seed}) -> {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
