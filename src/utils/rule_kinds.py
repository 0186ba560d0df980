"""What a configuration key takes, by declaration: `Rule` and its kinds (src/utils/config_rules.py
holds the keys). A rule is checked before any work; the first value that breaks one is one
`ConfigError` line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from src.utils.errors import ConfigError

# a format field of a file-name pattern ("{epoch:03d}", "{val/map@50:.4f}"): it becomes a
# number, so a "/" inside it names no folder
FIELD = re.compile(r"\{[^{}]*\}")
SEED_MAX = 2**32 - 1  # numpy's seeds (Lightning's seed_everything) are uint32

WORDS = {
    "int": "an integer",
    "real": "a finite number",
    "fraction": "a fraction in [0, 1] or a whole number of batches >= 0",
    "interval": "a fraction in (0, 1] of an epoch or a whole number of batches >= 1",
    "bool": "true or false",
    "str": "a non-empty string",
    "text": "a string",
    "name": "a plain name (not empty, no '/' or '\\', not '.' or '..')",
    "pattern": "a plain file-name pattern (not empty, no '/' or '\\' outside its {fields}, "
    "not '.' or '..')",
    "folder": "a folder that can be made and written",
    "existing": "an existing folder",
    "target": "a mapping with a _target_ class name",
    "list_str": "a list of strings",
    "mapping": "a mapping of names to numbers, strings, booleans, null or lists of them",
    "database": "an SQLite file URL, sqlite:///<file in an existing folder>",
}


@dataclass(frozen=True)
class Rule:
    """What a key takes: ``kind`` "int", "real" (finite), "fraction" ([0, 1] or an int >= 0,
    Lightning's limit_*_batches), "interval" (a float in (0, 1] or an int >= 1, Lightning's
    val_check_interval; 0.0 would validate after every batch, 0 divides by zero), "bool",
    "str" (non-empty), "text" (any string), "name" (a plain file name: `is_plain_name`),
    "pattern" (a file-name pattern whose text outside its ``{fields}`` is a plain name),
    "folder" (an output folder: `folder_problem`), "existing" (an existing folder:
    `existing_problem`), "database" (a storage URL:
    `database_problem`), "choice" (one of ``choices``), "target" (a mapping with a
    ``_target_``), "list_str", "mapping" (names to JSON scalars or lists of them) or "any_of"
    (one of the rules ``options``);
    ``low``/``high`` bound numbers; ``also`` are further values allowed as they are; ``why``
    says why the rule is what it is, in the line (e.g. why null is not allowed)."""

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    also: tuple[Any, ...] = ()
    options: tuple[Rule, ...] = ()
    why: str = ""

    def allows(self, value: Any) -> bool:
        """Whether ``value`` keeps the rule."""
        if (value is None and self.nullable) or any(_same(value, x) for x in self.also):
            return True
        if self.kind in ("int", "real"):
            ok = is_int(value) if self.kind == "int" else is_real(value)
            return (
                ok
                and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high)
            )
        checks = {
            "fraction": lambda v: (is_real(v) and 0 <= v <= 1) or (is_int(v) and v >= 0),
            "interval": lambda v: (is_real(v) and not is_int(v) and 0 < v <= 1)
            or (is_int(v) and v >= 1),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str) and v != "",
            "text": lambda v: isinstance(v, str),
            "name": is_plain_name,
            "pattern": lambda v: isinstance(v, str) and is_plain_name(FIELD.sub("x", v)),
            "folder": lambda v: isinstance(v, str) and v != "" and folder_problem(v) is None,
            "existing": lambda v: isinstance(v, str) and v != "" and existing_problem(v) is None,
            "choice": lambda v: any(_same(v, x) for x in self.choices),
            "target": lambda v: isinstance(v, Mapping) and isinstance(v.get("_target_"), str),
            "list_str": lambda v: isinstance(v, (list, tuple))
            and all(isinstance(x, str) for x in v),
            "mapping": lambda v: isinstance(v, Mapping)
            and all(isinstance(k, str) and _plain(x) for k, x in v.items()),
            "any_of": lambda v: any(rule.allows(v) for rule in self.options),
            "database": lambda v: isinstance(v, str) and database_problem(v) is None,
        }
        return checks[self.kind](value)

    def expected(self) -> str:
        """What the rule allows, in words."""
        if self.kind == "any_of":
            words = " or ".join(rule.expected() for rule in self.options)
        elif self.kind == "choice":
            words = f"one of {list(self.choices)}"
        else:
            words = WORDS[self.kind]
        if self.low is not None and self.high is not None:
            words += f" in [{_num(self.low)}, {_num(self.high)}]"
        elif self.low is not None:
            words += f" >= {_num(self.low)}"
        elif self.high is not None:
            words += f" <= {_num(self.high)}"
        extra = [repr(x) for x in self.also] + (["null"] if self.nullable else [])
        words += f" (or {', '.join(extra)})" if extra else ""
        return words + (f" ({self.why})" if self.why else "")

    def check(self, key: str, value: Any) -> None:
        """Raise ConfigError naming ``key`` when ``value`` breaks the rule (for a folder, with
        why it cannot be one)."""
        if self.allows(value):
            return
        problem = {
            "folder": folder_problem,
            "existing": existing_problem,
            "database": database_problem,
        }.get(self.kind)
        why = problem(value) if problem and isinstance(value, str) and value != "" else None
        raise RuleBroken(key, self.expected() + (f" ({why})" if why else ""), value)


class RuleBroken(ConfigError):
    """A value that breaks its rule: ``key: expected <expected>, got <value>``, with the three
    parts kept, so that a check of recorded values (a checkpoint's:
    `src.utils.checkpoint_rules`) can say the same in its own words."""

    def __init__(self, key: str, expected: str, value: Any) -> None:
        super().__init__(f"{key}: expected {expected}, got {value!r}")
        self.key, self.expected, self.value = key, expected, value


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number (an int or a float), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def is_plain_name(value: Any) -> bool:
    """A name that stays inside the folder it is joined to: a non-empty string without a path
    separator or NUL, not "." or ".." (``task_name=../..`` named a folder outside logs/)."""
    return (
        isinstance(value, str)
        and value not in ("", ".", "..")
        and not any(c in value for c in "/\\\0")
    )


def folder_problem(text: str) -> str | None:
    """Why ``text`` cannot be an output folder ("found a file", "no folder can be made in
    /proc: ..."), or None when it can: `src.utils.paths.output_reason` (the folder and its
    missing parents must be makeable and writable; a probe folder is made and removed)."""
    from src.utils.paths import output_reason

    return output_reason(text, "dir")


def existing_problem(text: str) -> str | None:
    """Why ``text`` is no existing folder that can be listed ("found a file", "found nothing
    there", ...: `src.utils.paths.input_reason`), or None."""
    from src.utils.paths import input_reason

    return input_reason(text, "dir")


def database_problem(text: str) -> str | None:
    """Why ``text`` is no SQLite file URL a study can be kept in (a server database or redis,
    which this project never sets up; a URL SQLAlchemy cannot parse; a driver that cannot be
    imported; no file, ``:memory:``; a file's folder that is not an existing writable
    folder; a file of other bytes), or None. Nothing is opened or made (trial 9, fault 15:
    postgresql:// reached Optuna's raw "Failed to import DB access module")."""
    from sqlalchemy.engine.url import make_url

    try:
        url = make_url(text)
        dialect = url.get_dialect()
    except Exception as exc:  # noqa: BLE001  sqlalchemy's ArgumentError, NoSuchModuleError
        return " ".join(str(exc).split())
    if url.get_backend_name() != "sqlite":
        return f"{url.get_backend_name()}:// is not SQLite; studies are kept in SQLite files"
    if url.database in (None, "", ":memory:"):
        return "no file: an in-memory study is hydra.sweeper.storage=null"
    try:
        (getattr(dialect, "import_dbapi", None) or dialect.dbapi)()  # SQLAlchemy 2 or 1.4
    except ImportError as exc:
        return f"its driver {url.drivername} cannot be imported ({exc})"
    return sqlite_folder_problem(url.database) or sqlite_file_problem(url.database)


def sqlite_folder_problem(path: str) -> str | None:
    """Why the folder of an SQLite file ``path`` is not one to write it in, or None: it must
    exist (it is not made) and take a new file, which a probe file made and removed shows
    (`src.utils.paths.output_reason`: a folder of /proc passed a permission test for root,
    then Optuna's sqlite3 "unable to open database file" came after the door, trial 11 G5)."""
    from src.utils.paths import input_reason, output_reason

    reason = input_reason(os.path.dirname(os.path.abspath(path)), "dir")
    if reason:
        return f"the folder of {path}: {reason}"
    reason = output_reason(path, "file", parents=False)
    return f"{path}: {reason}" if reason else None


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def sqlite_file_problem(path: str) -> str | None:
    """Why an existing ``path`` is no SQLite database a study can be kept in (not a readable
    file, or a file of other bytes: SQLAlchemy's "file is not a database" came only after the
    sweep folder was made), or None (also for no file yet, or an empty one: SQLite makes it)."""
    from src.utils.paths import input_reason

    if not os.path.lexists(path):
        return None
    reason = input_reason(path, "file")
    if reason is None:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            reason = "found a file that is no SQLite database"
    return f"{path}: {reason}" if reason else None


def _plain(value: Any, nested: bool = True) -> bool:
    """A JSON scalar, or (``nested``) a list of them."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    return nested and isinstance(value, (list, tuple)) and all(_plain(x, False) for x in value)


def _same(value: Any, allowed: Any) -> bool:
    return type(value) is type(allowed) and value == allowed


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def integer(low: int | None = None, high: int | None = None, **kw: Any) -> Rule:
    """An integer in [low, high]."""
    return Rule("int", low, high, **kw)


def real(low: float | None = None, high: float | None = None, **kw: Any) -> Rule:
    """A finite number in [low, high]."""
    return Rule("real", low, high, **kw)


def choice(*choices: Any, **kw: Any) -> Rule:
    """One of ``choices`` (compared with their type: "1" is not 1)."""
    return Rule("choice", choices=choices, **kw)


def any_of(*options: Rule, **kw: Any) -> Rule:
    """A value that keeps one of ``options``."""
    return Rule("any_of", options=options, **kw)


BOOL, STR, FRACTION = Rule("bool"), Rule("str"), Rule("fraction")
TEXT, NAME, FOLDER = Rule("text"), Rule("name"), Rule("folder")
# a name joined to an output folder; null keeps the default
PART = Rule("name", nullable=True)
EXISTING = Rule("existing")
