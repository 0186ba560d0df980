"""An interpolation that does not resolve, as the project's one line (trial 10, F1).

``seed=${nope}``, ``model.lam=${model.nolam}``, ``data.path=${oc.env:NOPE}``, an unknown
resolver, bad ``${`` grammar, a resolver that raises, or a path holding a literal ``${`` (a
folder named ``d${x}``) each raised OmegaConf's error with a 100-200 line traceback and left the
run folder. `interpolation_refusal` turns any of them, wherever it is raised, into a ConfigError
naming the key; a value typed on the command line with ``${`` in a path also gets the same
override with OmegaConf's escape ``\\${``, quoted for the shell, which resolves to the literal
text.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from src.utils.errors import ConfigError, exception_chain

if TYPE_CHECKING:
    from omegaconf import DictConfig

ESCAPE_ADVICE = "a literal ${ in a value is written \\${"


def omegaconf_cause(exc: BaseException) -> BaseException | None:
    """The first interpolation error of OmegaConf in ``exc``'s chain (a resolution error of
    any kind, or a grammar error), else None."""
    from omegaconf.errors import GrammarParseError, InterpolationResolutionError

    for current in exception_chain(exc):
        if isinstance(current, (InterpolationResolutionError, GrammarParseError)):
            return current
    return None


def escaped_override(key: str, words: list[str]) -> str | None:
    """The command line's override of ``key`` with each ``${`` escaped (``\\${``), quoted for
    the shell, when its value holds a ``${`` and reads as a path (holds a ``/`` or exists);
    else None."""
    for word in words:
        name, sep, value = word.partition("=")
        if sep and name.lstrip("+~") == key and "${" in value:
            if "/" in value or os.path.exists(value):
                return shlex.quote(f"{name}={value.replace('${', chr(92) + '${')}")
    return None


def failing_root(cause: BaseException) -> DictConfig | None:
    """The whole configuration in which ``cause`` (an OmegaConf error) was raised, else None."""
    from omegaconf import DictConfig

    node = getattr(cause, "parent_node", None)
    root = node._get_root() if node is not None else None
    return root if isinstance(root, DictConfig) else None


def user_key(root: DictConfig | None, key: str, words: list[str]) -> str:
    """The key the command line set that ``key`` (where resolution failed in ``root``) derives
    from (`src.utils.key_sources.given_key`: ``data.seed`` -> ``seed``), else ``key``."""
    from src.utils.key_sources import given_key

    if root is None:
        return key
    try:
        return given_key(root, key, words)
    except Exception:  # noqa: BLE001  a key the walk cannot follow: the failing key itself
        return key


def interpolation_refusal(
    exc: BaseException, words: list[str] | None = None
) -> ConfigError | None:
    """``exc`` as a ConfigError ``<key>: cannot resolve its value (<reason>); expected an
    interpolation that resolves`` (with the escaped override, `escaped_override`, when the
    value was a path typed with ``${``), or None when no OmegaConf interpolation error is
    behind it. ``words``: the command line's overrides (default: Hydra's, as typed)."""
    cause = omegaconf_cause(exc)
    if cause is None:
        return None
    root = failing_root(cause)
    if words is None:  # the failing configuration's own record first: Hydra may not be set up
        from src.utils.key_sources import command_line

        words = command_line(root)
    key = user_key(root, getattr(cause, "full_key", None) or "config", words)
    reason = " ".join(str(cause).split("\n")[0].split())
    message = (
        f"{key}: cannot resolve its value ({reason}); expected an interpolation that resolves"
    )
    escaped = escaped_override(key, words)
    if escaped:
        message += f"; {ESCAPE_ADVICE}, as in {escaped}"
    return ConfigError(message)
