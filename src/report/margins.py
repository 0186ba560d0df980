"""The --margins flag of scripts/report.py: which method every other one is compared with.

The known methods are the model configurations of this checkout (configs/model/*.yaml); a
method named on the command line must also be among the runs read, else its margins section
would silently be missing (issue 22's fresh-user trial).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from src.utils.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "model"
KNOWN_METHODS = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
DEFAULT_MARGINS = "agch"


def method_name(text: str) -> str:
    """An argparse ``type``: a method of configs/model (or "" for none)."""
    if text and text not in KNOWN_METHODS:
        raise argparse.ArgumentTypeError(
            f"expected one of {KNOWN_METHODS} (or '' for none), got {text!r}"
        )
    return text


def check_margins(args: argparse.Namespace, runs: list[Any]) -> None:
    """A --margins method named on the command line must be among the runs read (else the
    margins section would silently be missing); the default is kept quietly when absent."""
    methods = sorted({run.method for run in runs})
    if args.margins and args.margins not in methods:
        raise ConfigError(
            f"--margins {args.margins}: expected a method among the runs read {methods}"
        )
    if args.margins is None:
        args.margins = DEFAULT_MARGINS
