"""Hydra's own composition and override errors, each kind as a line that says what is true
(issue 22: ``callbacks=[default,nonexistent]``, ``-m hydra.job.chdir=true,false`` and
``hydra.run.dir=a,b`` got Hydra's text, its config search path, and an unrelated "expected
key=value" part, with no list of the options).

Each explainer takes (Hydra's text on one line, the exception, the command line's words) and
returns ``<the word given>: <what is wrong>; expected <what to type>``, or None when the text
is of another kind: an option a config group lacks (`missing_option`, the group's options
listed as Hydra's loader finds them: the files of configs/<group>/, a plugin's for Hydra's
own groups), a sweep of one of Hydra's own settings or a comma-separated value without -m
(`sweep_value`), ``+key`` of a key the configuration has (`already_there`), a group given no
option name (`not_an_option_name`), a word Hydra's grammar cannot read (`grammar`). The
generic forms (key=value, +key=value, ~key) are advised only for a word without ``=``.
"""

from __future__ import annotations

import difflib
import functools
import re
import shlex
from collections.abc import Callable, Iterable
from typing import Any

from src.utils.config_groups import LIST_GROUPS
from src.utils.suggest import CONFIGS

FORMS = "key=value, +key=value (a new key) or ~key (delete one that may be deleted)"
_MISSING = re.compile(r"In '([^']+)': Could not (?:find|load) '([\w./-]+)/([^'/]+)'")
_HYDRA_SWEEP = re.compile(r"Sweeping over Hydra's configuration is not supported ?: '(.+?)'")
_AMBIGUOUS = re.compile(r"Ambiguous value for argument '(.+?)' 1\.")
_NEEDS_M = re.compile(r"Sweep parameters '(.+?)' requires --multirun")
_APPEND = re.compile(r"Could not append to config\. An item is already at '([^']+)'")
_FORCED = re.compile(r"force-add of config groups is not supported: '\+\+([^=']+)=([^']*)'")
_NOT_A_NAME = "Config group override must be a string or a list"
_NOISE = re.compile(r" ?(Config search path:|See https://hydra\.cc/).*$")
SHOWN = 40  # a group of more options lists the closest ones and says where the rest are


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    """A Hydra config loader on configs/ (and the plugins' search paths), for group options."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONFIGS)))


def group_options(group: str) -> list[str]:
    """The options Hydra finds for config group ``group`` ("callbacks", "hydra/launcher")."""
    return sorted(_loader().get_group_options(group))


def options_words(group: str, option: str = "") -> str:
    """``group``'s options as a line offers them: all, or, for more than `SHOWN`, the closest
    to ``option`` and where the others are; then the closest one to ``option`` if any."""
    options = group_options(group)
    close = difflib.get_close_matches(option, options, n=1, cutoff=0.6) if option else []
    where = "Hydra's" if group.split("/")[0] == "hydra" else f"configs/{group}/"
    if len(options) <= SHOWN:
        words = f"expected one of its options ({where}): {', '.join(options)}"
    else:
        words = (
            f"expected one of its {len(options)} options, the files of {where} (closest: "
            + ", ".join(difflib.get_close_matches(option, options, n=8, cutoff=0.0))
            + ")"
        )
    return words + (f"; did you mean {close[0]}?" if close else "")


def _word(words: Iterable[str], test: Callable[[str, str], bool]) -> str | None:
    """The last word ``key=value`` of ``words`` for which ``test(key, value)`` holds (the key
    without its +/~ prefix)."""
    found = None
    for word in words:
        key, sign, value = word.lstrip("+~").partition("=")
        if sign and test(key, value):
            found = word
    return found


def missing_option(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """An option a config group lacks: the word that chose it (or the config file whose
    defaults list does), and the group's options."""
    found = _MISSING.search(text)
    if not found:
        return None
    where, group, option = found[1], found[2], found[3]
    word = _word(argv, lambda k, v: k == group and option in re.split(r"[\[\],\s]+", v))
    given = word or f"configs/{where}.yaml chooses {group}: {option} in its defaults list"
    if word is None and where.split("/")[0] == "hydra":
        given = f"{group}={option} (Hydra's own choice)"
    kind = "Hydra's config group" if group.split("/")[0] == "hydra" else "the config group"
    listed = f" (a list keeps several: {group}=[a,b])" if group in LIST_GROUPS else ""
    return f"{given}: {option} is not an option of {kind} {group}; " + (
        options_words(group, option) + listed
    )


def _plain_list(value: str) -> list[str] | None:
    """The items of a comma-separated value without brackets, quotes or a sweep function
    (``a,b``), else None."""
    if "," not in value or re.search(r"[\[\]{}()'\"]", value):
        return None
    return [v.strip() for v in value.split(",")]


def sweep_value(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """A sweep where none runs: of one of Hydra's own settings (``hydra.*``, composed once
    for all the jobs: not even -m sweeps it), or a comma-separated value or a sweep function
    without -m (Hydra: "Ambiguous value", "requires --multirun")."""
    found = _HYDRA_SWEEP.search(text) or _AMBIGUOUS.search(text) or _NEEDS_M.search(text)
    if not found:
        return None
    word = found[1]
    key, _, value = word.partition("=")
    name, items = key.lstrip("+~"), _plain_list(value)
    first = f" ({shlex.quote(f'{key}={items[0]}')})" if items else ""
    # each form advised is one shell word as typed (a quote of Hydra's inside the shell's:
    # ckpt_path='a,b' typed into a shell reached Hydra as ckpt_path=a,b again)
    text = shlex.quote(f'{key}="{value}"')
    if name.split(".")[0] == "hydra":
        text_setting = isinstance(_current(name, argv), str)  # a folder, a name: 'a,b' is one
        quoted = f" or the text as one quoted string ({text})" if items else ""
        quoted = quoted if text_setting else ""
        return (
            f"{word}: {name} is one of Hydra's own settings, composed once for a whole run or "
            f"sweep, so it cannot be swept (not even with -m); expected one value{first}"
            f"{quoted}, and one command per value"
        )
    group = (CONFIGS / name).is_dir()
    one = "option" if group else "value"
    what = f"a sweep over {', '.join(items)}" if items else f"a sweep ({value})"
    other = f" or one {one}{first}"
    listed = shlex.quote(f"{key}=[{value}]")
    if group and name in LIST_GROUPS and items:
        other += f", or all of them together ({listed})"
    elif not group and items:
        other += f", a list ({listed}) or one quoted string ({text})"
    if "interval(" in value:  # the basic sweeper expands no interval: a search samples it
        return (
            f"{word}: {what}, which only a search samples (-m hparams_search=optuna); expected "
            f"that search, or one value"
        )
    return f"{word}: {what}, which runs only with -m; expected -m (one job per {one}){other}"


def _current(key: str, argv: list[str]) -> Any:
    """The configured value of ``key`` (unresolved) in the configuration ``argv`` compose to,
    or None."""
    from src.utils.composed_keys import chosen_config

    node: Any = (chosen_config(argv) or ({}, {}))[0]
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def already_there(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """``+key=value`` of a key the configuration has: it is set, not added."""
    found = _APPEND.search(text)
    if not found:
        return None
    key = found[1]
    word = _word(argv, lambda k, v: k == key) or f"+{key}=..."
    value = word.partition("=")[2]
    return (
        f"{word}: {key} is a key the configuration has, so it is set, not added (+ adds a "
        f"new key); expected {key}={value}"
    )


def forced_group(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """``++group=option`` of any config group (the project's and Hydra's own): a group is
    chosen, not forced."""
    from src.utils.config_groups import selection_advice

    found = _FORCED.search(text)
    if not found:
        return None
    group, option = found[1], found[2]
    return (
        f"++{group}={option}: {group} is a config group, chosen with {group}=<option>, not "
        f"forced with ++; expected {selection_advice(group, option, argv)}"
    )


def not_an_option_name(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """A config group given no option name (``model=null``, ``=1``: Hydra "Config group
    override must be a string or a list")."""
    if _NOT_A_NAME not in text:
        return None
    word = next((w for w in argv if w.lstrip("+~").partition("=")[0] == ""), None)
    if word is not None:
        return f"{word}: no key before '='; expected key=value"
    from src.utils.config_groups import selectable_groups

    groups = selectable_groups()
    word = _word(argv, lambda k, v: k in groups and v.strip("'\"").lower() in ("null", "~", ""))
    if word is None:
        return None
    group = word.lstrip("+~").partition("=")[0]
    off = f" ({group}=none turns it off)" if "none" in group_options(group) else ""
    return (
        f"{word}: {group} is a config group, which takes the name of an option, not null"
        f"{off}; " + options_words(group)
    )


def grammar(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """A word Hydra's override grammar cannot read: one without ``=`` (the forms it reads), a
    key that is no dotted name, or a value it cannot parse (Hydra's reason kept)."""
    from hydra.errors import OverrideParseException

    if not isinstance(exc, OverrideParseException):
        return None
    word = exc.override
    reason = _NOISE.sub("", text).replace(f"Error parsing override '{word}'", "").strip(" :")
    reason = reason.replace(f"LexerNoViableAltException: {word} ^", "").strip(" :")
    if "=" not in word:
        return f"{word}: not an override, it has no '='; expected {FORMS}"
    key, _, value = word.partition("=")
    if not _parses(f"{key}=1"):
        return (
            f"{word}: {key!r} is not a key Hydra reads (a dotted name of letters, digits, _ "
            "and -, after +, ++ or ~ if any); expected key=value with such a key"
        )
    why = f" ({reason})" if reason else ""
    mended = quoted_override(key, value)
    typed = f", typed as printed: {mended}" if mended else " (key='...')"
    return (
        f"{word}: Hydra cannot read the value {value!r}{why}; expected a value of its "
        f"grammar: text with special characters quoted{typed}; a list [a,b], a mapping "
        "{a:1}, a sweep a,b with -m"
    )


def quoted_override(key: str, value: str) -> str | None:
    """``key=value`` with the value quoted for Hydra and the whole override quoted for the
    shell (`shlex.quote`): one word that bash hands over as Hydra reads it to ``value``
    (trial 9, fault 13: ``key='a b'`` typed as printed lost its quotes in the shell); None
    when no quoting gives ``value`` back."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    quote, dquote, slash = "'", '"', "\\"
    candidates = [
        f"{key}={q}{text.replace(q, slash + q)}{q}"
        for text in (value, value.replace(slash, slash * 2))
        for q in (quote, dquote)
    ]
    for word in candidates:
        try:
            read = OverridesParser.create().parse_override(word).value()
        except Exception:  # noqa: BLE001  (the next quoting, or none)
            continue
        if read == value:
            return shell_word(word)
    return None


def shell_word(word: str) -> str:
    """``word`` as one bash word: in double quotes when nothing in it is special there (the
    readable ``"key='a b'"``), else `shlex.quote`."""
    import shlex

    if not set(word) & set('"$`\\!') and shlex.split(f'"{word}"') == [word]:
        return f'"{word}"'
    return shlex.quote(word)


def _parses(word: str) -> bool:
    """Whether Hydra's override grammar reads ``word``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        OverridesParser.create().parse_override(word)
    except Exception:  # noqa: BLE001
        return False
    return True


def cleaned(text: str) -> str:
    """Hydra's text without its config search path and its link to the grammar's page."""
    return _NOISE.sub("", text).strip()


EXPLAINERS = (missing_option, sweep_value, already_there, forced_group, not_an_option_name)
