"""Convert a downloaded dataset into the HDF5 feature store (docs/data.md).

    python scripts/prepare_data.py wiki --source ../shared/data/wiki
    python scripts/prepare_data.py mirflickr --source DIR [--image-file F --image-key K]
    python scripts/prepare_data.py nuswide --source DIR
    python scripts/prepare_data.py uci --source ../shared/data/uci
    python scripts/prepare_data.py news --source ../shared/data/news [--vocab-size 4000]
    python scripts/prepare_data.py arrays --image X.npy --text Y.npy --labels L.npy --name NAME

The output goes to data/<dataset>.h5 under the repository root (where the data configs look)
unless --out says otherwise; an existing store there is refused and kept unless --overwrite is
given (src/utils/outputs.py). Bad input ends with one line ``error: ...`` and exit code 2;
Ctrl-C or SIGTERM stops the work (exit code 130). Neither leaves a file behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rootutils

ROOT = rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.data import converters  # noqa: E402  (this checkout's src, first on sys.path)
from src.data.images import ARCHS, PRECISIONS  # noqa: E402
from src.data.news import NEWS_VOCAB_SIZE  # noqa: E402
from src.data.store import StoreInfo  # noqa: E402
from src.utils.errors import (  # noqa: E402
    output_path,
    ArgumentParser,
    device_name,
    existing_path,
    integer_at_least,
    one_line_errors,
    plain_name,
)
from src.utils.io import check_output_path, interrupts_raise  # noqa: E402
from src.utils.outputs import add_overwrite_flag, check_apart, check_overwrite  # noqa: E402

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=output_path("file"), help="output store (default: data/<dataset>.h5)"
    )
    add_overwrite_flag(parser, "store")
    parser.add_argument(
        "--seed", type=integer_at_least(0), default=0, help="split seed, stored as split_seed"
    )
    parser.add_argument(
        "--val-size",
        type=integer_at_least(1),
        help="validation queries (default min(1000, 10%% of retrieval))",
    )


def _images(parser: argparse.ArgumentParser, arch: str = "vgg19") -> None:
    if arch == "vgg19":
        parser.add_argument("--image-file", help="image feature (or raw image) file in --source")
        parser.add_argument("--image-key", help="its array name (default XAll, IAll for raw)")
    parser.add_argument("--arch", choices=ARCHS, default=arch, help="network, for raw images")
    parser.add_argument(
        "--weights",
        type=existing_path("file"),
        help="local state-dict file instead of ImageNet weights",
    )
    parser.add_argument(
        "--batch-size", type=integer_at_least(1), default=64, help="for raw images"
    )
    parser.add_argument(
        "--device", type=device_name, help="for raw images (default: cuda when available)"
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="auto: bf16 on CUDA, else fp32"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="dataset", required=True)
    for name in ("wiki", "uci", "mirflickr", "nuswide"):
        sub = commands.add_parser(name, help=f"convert the {name} release")
        sub.add_argument("--source", type=Path, required=True, help="folder of the release")
        _common(sub)
        if name in ("mirflickr", "nuswide"):
            _images(sub)
    sub = commands.add_parser("news", help="convert the news release (raw images and texts)")
    sub.add_argument("--source", type=Path, required=True, help="folder of the release")
    sub.add_argument(
        "--vocab-size",
        type=integer_at_least(1),
        default=NEWS_VOCAB_SIZE,
        help=f"words of the text BoW (default {NEWS_VOCAB_SIZE})",
    )
    _common(sub)
    _images(sub, arch="efficientnet_lite0")
    sub = commands.add_parser("arrays", help="any paired dataset given as .npy arrays")
    sub.add_argument(
        "--image", type=existing_path("file"), required=True, help="image features [N, Dv]"
    )
    sub.add_argument(
        "--text", type=existing_path("file"), required=True, help="text features [N, Dt]"
    )
    sub.add_argument(
        "--labels", type=existing_path("file"), required=True, help="multi-hot [N, C] or ids [N]"
    )
    sub.add_argument(
        "--name", type=plain_name, default="arrays", help="dataset name (and default file name)"
    )
    sub.add_argument("--query-size", type=integer_at_least(1), default=2000)
    sub.add_argument("--train-size", type=integer_at_least(1), default=5000)
    _common(sub)
    return parser


def convert(args: argparse.Namespace) -> StoreInfo:
    name = args.name if args.dataset == "arrays" else args.dataset
    out = args.out or ROOT / "data" / f"{name}.h5"
    sources = [getattr(args, k, None) for k in ("source", "image", "text", "labels")]
    check_apart(out, [p for p in sources if p is not None], "--out")  # never a source
    check_overwrite([out], "--out", args.overwrite)  # an existing store is kept unless asked
    if args.out is None:  # the default folder is made; a folder given with --out must exist
        out = check_output_path(out, parents=True)
    common = {"seed": args.seed, "val_size": args.val_size}
    if args.dataset == "arrays":
        return converters.convert_arrays(
            args.image,
            args.text,
            args.labels,
            out,
            args.query_size,
            args.train_size,
            dataset=name,
            **common,
        )
    if args.dataset in ("wiki", "uci"):
        convert_fn = getattr(converters, f"convert_{args.dataset}")
        return convert_fn(args.source, out, **common)
    from src.data.extract import ExtractOptions  # imports torch: only these datasets need it

    extract = ExtractOptions(args.arch, args.weights, args.batch_size, args.device, args.precision)
    if args.dataset == "news":
        from src.data.news_convert import convert_news

        return convert_news(
            args.source, out, vocab_size=args.vocab_size, extract=extract, **common
        )
    convert_fn = getattr(converters, f"convert_{args.dataset}")
    return convert_fn(
        args.source,
        out,
        image_file=args.image_file,
        image_key=args.image_key,
        extract=extract,
        **common,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupts_raise()
    with one_line_errors(SCRIPT):
        info = convert(args)
    sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
    print(
        f"wrote {info.path}: {info.n_items} items, image {info.image_dim}-d, "
        f"text {info.text_dim}-d, {info.n_classes} classes; {sizes}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
