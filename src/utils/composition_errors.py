"""Hydra's composition errors (raised before a job starts) as one line that says what to type.

Hydra's own messages name its grammar or its internals, and some of its hints do not work as
typed: ``+experiment=NAME`` gets "To override a value use 'override experiment: NAME'", which
is defaults-list syntax that the command line does not lex; ``~hydra.run.dir`` gets "Error
merging override ~hydra.run.dir". `composition_error` rewrites each kind into
``command line: <key or override>: <what is wrong>; expected <what to type>``: the kinds of
the project's own making here, those of Hydra's grammar and composition in
src/utils/hydra_errors.py; an unknown key with the keys of the presets chosen
(src/utils/composed_keys.py). A kind none explains keeps Hydra's text (without its config
search path), with the generic forms only for a word without ``=``
(`src.utils.jobs.run_cli` prints it as one ``error:`` line).
"""

from __future__ import annotations

import re
import shlex
import sys

from src.utils.config_groups import folder_refusal, group_form_refusal, selection_advice
from src.utils.errors import user_error
from src.utils.hydra_errors import EXPLAINERS, FORMS, cleaned, grammar
from src.utils.suggest import script_name
from src.utils.composed_keys import list_above, setting_form, unknown_key_words

_NOT_IN_CONFIG = re.compile(r"Could not override '([\w.]+)'")
_GROUP_TWICE = re.compile(
    r"Multiple values for ([\w/.]+)\. To override a value use 'override \1: ?([^']*)'"
)
_GROUP_AGAIN = re.compile(r"(\b[\w/.]+) appears more than once in the final defaults list")
_MERGING = re.compile(r"Error merging override (~?)([\w.+/@-]+)(?:=(\S*))?")
_NO_DELETE = re.compile(r"Could not delete from config\. '([\w.]+)' does not exist")


def composition_error(exc: BaseException, argv: list[str] | None = None) -> str:
    """What went wrong before the job started, on one line, with what to do instead;
    ``argv`` (the command's overrides, by default ``sys.argv[1:]``) supplies the override
    that Hydra's message leaves out."""
    text = " ".join(str(exc).split())
    # e.g. a run directory too long or read-only (hydra.run.dir); a deletion Hydra could not
    # merge is the deletion's fault even where the cause is an interpolation (~hydra.help.*)
    merging = _MERGING.search(text)
    known = None if merging and merging[1] else user_error(exc)
    if known is not None:
        return str(known)
    words = sys.argv[1:] if argv is None else argv
    explainers = (
        grammar,  # first: an unreadable word may name any key
        _not_a_group,
        _search_space_key,
        _unknown_key,
        _group_added_twice,
        _merge_error,
        _nothing_to_delete,
        *EXPLAINERS,
        _into_a_list,
    )
    for explain in explainers:
        explained = explain(text, exc, words)
        if explained is not None:
            return f"command line: {explained}"
    lacking = any("=" not in w for w in words if w[:1] not in "-~")  # the forms are the
    return f"command line: {cleaned(text)}; expected " + (  # answer to a word without '='
        FORMS if lacking else f"overrides Hydra composes (python src/{script_name()} --help)"
    )


def _into_a_list(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """A key that names a list's item by a name (``model.eval_ks.foo=3``: OmegaConf's
    "invalid literal for int()")."""
    for word in argv:
        key, sign, _ = word.lstrip("+~").partition("=")
        listed = list_above(key, argv) if sign and "." in key else None
        if listed:
            return (
                f"{word}: {listed} is a list, whose items have no names; expected the whole "
                f"list ({listed}=[...]) or an item by its index ({listed}.0=...)"
            )
    return None


def _not_a_group(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """An override in ``argv`` of a folder that is no group to choose (configs/common/,
    configs/local/ without the file; `folder_refusal`) or a group forced with ``++``
    (`group_form_refusal`), whatever Hydra said of it."""
    return folder_refusal(argv) or group_form_refusal(argv)


def _search_space_key(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """An override of an entry of the Optuna search space, ``hydra.sweeper.params.<key>``:
    Hydra reads the dots of ``<key>`` as nested keys of that mapping of strings, so that no
    form of it composes; the search takes ``<key>=<search>`` as a task override instead
    (`src.utils.sweep_jobs.sweep_arguments`), advised when the configuration has the key
    (`setting_form`), else the key is refused as any unknown key."""
    word = next((w for w in argv if w.lstrip("+~").startswith(_PARAMS)), None)
    if word is None or _PARAMS not in text:
        return None
    key, _, value = word.lstrip("+~").partition("=")
    param = key[len(_PARAMS) :]
    form = setting_form(param, argv)
    if form is None:
        return f"{key}: {param}: {unknown_key_words(param, argv)}"
    advice = shlex.quote(f"{form}{param}={value.strip(chr(39) + chr(34))}")
    return (
        f"{word}: Hydra cannot set a search-space entry from the command line (it reads the "
        f"dots of {param} as nested keys of {_PARAMS[:-1]}, a mapping of strings); expected "
        f"the parameter as an override, which a search (-m hparams_search=...) searches: "
        f"{advice}"
    )


def _unknown_key(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """A key the configuration lacks, refused with the keys of the presets the command line
    chose (`unknown_key_words`; Hydra's hint, the +, is advised only where the door takes
    it)."""
    unknown = _NOT_IN_CONFIG.search(text)
    if not unknown:
        return None
    key = unknown[1]
    given = [w.split("=", 1)[1] for w in argv if w.partition("=")[0] == key]
    return f"{key}: {unknown_key_words(key, argv, given[-1] if given else '...')}"


def _group_added_twice(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """``+group=NAME`` of a group the defaults list already holds (``experiment: null`` and
    ``data``, ``model``... with a default): the override without ``+`` is what to type
    (Hydra names NAME in one of its two messages; the other is found in ``argv``)."""
    twice, again = _GROUP_TWICE.search(text), _GROUP_AGAIN.search(text)
    if not (twice or again):
        return None
    group = (twice or again)[1]
    given = [a.split("=", 1)[1] for a in argv if a.startswith(f"+{group}=")]
    name = twice[2].strip() if twice else (given[-1] if given else "NAME")
    kept = f"{group}={name} (without the +)"
    advice = selection_advice(group, name, [a for a in argv if not a.startswith("+")])
    if advice != f"{group}={name}":  # a group of entries: keep the ones chosen now
        kept = f"{advice} ({group}={name} alone would drop the others)"
    return (
        f"+{group}={name}: {group} is a config group already in the defaults list, so it is "
        f"chosen, not added; expected {kept}"
    )


def _merge_error(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """An override Hydra could not merge, with the reason its cause gives (a deletion of one
    of Hydra's own settings: they take a value, never none)."""
    merging = _MERGING.search(text)
    if not merging:
        return None
    delete, key = merging[1], merging[2]
    cause = " ".join(str(exc.__cause__ or "").split("\n")[0].split())
    if delete and "does not support deletion" in cause:
        return (
            f"~{key}: {key} is one of Hydra's own settings and cannot be deleted; expected "
            f"a value ({key}=VALUE), or no override to keep the configured one"
        )
    reason = f" ({cause})" if cause else ""
    given = f"{delete}{key}" + (f"={merging[3]}" if merging[3] is not None else "")
    return (
        f"{given}: Hydra cannot apply this override{reason}; expected a value of the type "
        f"{key} holds (python src/{script_name()} --cfg all shows its value)"
    )


def _nothing_to_delete(text: str, exc: BaseException, argv: list[str]) -> str | None:
    """``~key`` of a key the configuration does not have."""
    missing = _NO_DELETE.search(text)
    if not missing:
        return None
    return f"~{missing[1]}: {unknown_key_words(missing[1], argv, form='~')}"


_PARAMS = "hydra.sweeper.params."
