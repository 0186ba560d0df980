"""Hydra's command line, read wherever its flags are placed.

``@hydra.main`` parses ``sys.argv`` with argparse's ``parse_args``, which takes no flag after
the first ``key=value`` override: ``python src/train.py trainer.max_epochs=1 -m seed=0,1``
printed Hydra's 8-line usage and "unrecognized arguments" (trial 28 c53). `hydra_argv` reads
the same parser (``hydra._internal.utils.get_args_parser``) with ``parse_intermixed_args``
and writes the flags back first; an option it still rejects (``--foo``, ``--cfg`` without its
value) is one `ConfigError` line naming the script and what it expects.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from src.utils.errors import ConfigError


def _refuse(script: str) -> "NoReturn":
    """An ``error`` method for Hydra's parser: one `ConfigError` naming ``script``."""

    def error(message: str) -> NoReturn:
        raise ConfigError(
            f"{script}: {message}; expected Hydra's flags (-m/--multirun, --cfg job, "
            f"--help: python src/{script} --help) and key=value overrides, in any order"
        )

    return error  # type: ignore[return-value]


def _known(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether ``option`` is one of the parser's options or (``--...``) a prefix of one, as
    argparse accepts abbreviations."""
    names = [s for action in parser._actions for s in action.option_strings]
    return option in names or (
        option.startswith("--") and any(s.startswith(option) for s in names)
    )


def hydra_argv(argv: list[str], script: str) -> list[str]:
    """``argv`` (the arguments after the script) with Hydra's flags first and the overrides
    after, in their order; raises ConfigError for what Hydra's parser rejects.

    >>> hydra_argv(["a=1", "-m", "b=2", "--cfg", "job"], "train.py")
    ['--cfg', 'job', '--multirun', 'a=1', 'b=2']
    """
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.error = _refuse(script)  # type: ignore[method-assign]
    unknown = [t for t in argv if t.startswith("-") and not _known(parser, t.split("=")[0])]
    if unknown:  # argparse would call the overrides after one unrecognized too
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args = parser.parse_intermixed_args(argv)
    flags: list[str] = []
    for action in parser._actions:  # argparse keeps no public list of them
        value = getattr(args, action.dest, None)
        if not action.option_strings or value in (None, False, action.default):
            continue
        flags.append(action.option_strings[0])
        if not isinstance(action, argparse._StoreTrueAction):  # --info: its value (all)
            flags.append(str(value))
    return flags + list(args.overrides or [])
