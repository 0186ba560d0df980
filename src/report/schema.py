"""The schema of the results.json files that src/utils/records.py writes, as report.py,
archive_results.py and heldout_intervals.py read them: each field's type and domain, by
declaration (the rules of src/utils/config_rules.py). A record that breaks it is skipped (or
refused) with a line naming the file, the field and what was expected, never a traceback, an
odd row or a number outside its domain in a mean.

Domains: the identity fields (`RECORD_RULES`: a code length and an epoch count are integers
>= 1, a seed an integer >= 0); every figure of ``metrics``/``best_metrics`` the report reads
(`METRIC_RULES`, by name: retrieval metrics mAP@k, mAP@all and P@k are fractions in [0, 1],
health figures their own ranges); the recorded ``settings`` and the command's overrides the
report interprets (`SETTING_RULES`: ``trainer.max_epochs``, ``model.code_length``); the
values that become part of a folder name in the archive (`path_part_problem`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from src.models.checks import MAX_CODE_LENGTH
from src.utils.errors import ConfigError, DataError
from src.utils.rule_kinds import SEED_MAX, STR, Rule, choice, integer, real

MAPPING = Rule("mapping")

# results.json fields (src/utils/records.py: run_info, write_run_records, write_failed_record)
RECORD_RULES: dict[str, Rule] = {
    # "incomplete": a run that ended without a metric the protocol expects (never tabled)
    "status": choice("completed", "failed", "incomplete"),
    "task_name": Rule("str", nullable=True),
    "dataset": STR,
    "synthetic": Rule("bool", nullable=True),
    "method": STR,
    "code_length": integer(1, MAX_CODE_LENGTH),
    "seed": integer(0, SEED_MAX, nullable=True),
    "val_mode": choice("official", "heldout", nullable=True),
    "git_commit": Rule("str", nullable=True),
    "command": Rule("str", nullable=True),
    "overrides": Rule("list_str", nullable=True),
    "settings": Rule("mapping", nullable=True),
    "metrics": MAPPING,
    "best_metrics": Rule("mapping", nullable=True),
    # the store's identity beyond its path (absent before they were recorded: one unnamed store)
    "image_dim": integer(1, nullable=True),
    "text_dim": integer(1, nullable=True),
    "feature_extractor": Rule("str", nullable=True),
    "timing": Rule("mapping", nullable=True),
}
# results.json ``timing`` (src/utils/timing.py), checked as ``timing.<key>``
TIMING_RULES: dict[str, Rule] = {
    "total_s": real(0, nullable=True),
    "fit_s": real(0, nullable=True),
    "test_s": real(0, nullable=True),
    "resumed": Rule("bool", nullable=True),
    "device": Rule("str", nullable=True),
    "threads": integer(1, nullable=True),
}

# metric names (src/metrics/retrieval.py, src/callbacks/health.py) and their domains
METRIC_RULES: tuple[tuple[re.Pattern[str], Rule], ...] = (
    # mAP@k, mAP@all, P@k of any stage and direction: test/i2t_map@50, val/map@all, best/t2i_p@1
    (re.compile(r"(^|[/_])(map|p)@"), real(0, 1)),
    # mean pairwise cosine of a module's codes
    (re.compile(r"^health/[^/]+/pairwise_cos$"), real(-1, 1)),
    # relative weight change, a module's own loss and its ratio to the first epoch's
    (re.compile(r"^health/[^/]+/(weight_change|own_loss|own_loss_ratio)$"), real(0)),
)

# settings (and command-line overrides) the report interprets
SETTING_RULES: dict[str, Rule] = {
    "trainer.max_epochs": integer(1),
    "model.code_length": integer(1, MAX_CODE_LENGTH),
}
EPOCHS_OVERRIDE = re.compile(r"^[+~]*(trainer\.max_epochs)=(.*)$")

# a value that becomes one folder name of the archive: a plain name, bounded
PATH_PART = re.compile(r"[A-Za-z0-9_.=,+-]+")
MAX_PATH_PART = 200  # bytes; file systems allow 255
# the fields that name a folder of the archive and a row of the report (code_length is an
# integer by its rule)
PATH_PART_KEYS = ("dataset", "method")


def metric_problem(field: str, metrics: Mapping[str, Any]) -> str | None:
    """``"<field>.<name>: expected ..., got ..."`` for the first figure of ``metrics`` whose
    name has a rule in `METRIC_RULES` and whose value breaks it, else None.

    A finite number must lie in the domain; a value that is no number (a string, a bool, a
    list) is refused. null, NaN and +-inf are what src/train.py writes for a non-finite metric
    (NaN as null): they pass here, and the report skips a run whose metrics in use are not
    finite with its own line (src/report/runs.py, ``finite``)."""
    for name, value in metrics.items():
        rule = next((r for pattern, r in METRIC_RULES if pattern.search(str(name))), None)
        if rule is None or value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and not math.isfinite(value):
            continue
        if not rule.allows(value):
            return f"{field}.{name}: expected {rule.expected()}, got {value!r}"
    return None


def setting_problem(record: Mapping[str, Any]) -> str | None:
    """The first recorded setting (``settings``) or ``trainer.max_epochs=N`` override that
    breaks `SETTING_RULES`, as ``"<field>: expected ..., got ..."``, else None."""
    settings = record.get("settings") or {}
    for key, rule in SETTING_RULES.items():
        if key in settings and not rule.allows(settings[key]):
            return f"settings.{key}: expected {rule.expected()}, got {settings[key]!r}"
    for override in record.get("overrides") or []:
        found = EPOCHS_OVERRIDE.match(override)
        if found is None:
            continue
        text = found[2].strip()
        value: Any = int(text) if re.fullmatch(r"[+-]?\d+", text) else text
        rule = SETTING_RULES[found[1]]
        if not rule.allows(value):
            return f"overrides: {found[1]}: expected {rule.expected()}, got {text!r}"
    return None


def path_part_problem(value: Any) -> str | None:
    """What ``value`` lacks as one folder name of the archive (the words after "expected"),
    else None: a string of [A-Za-z0-9_.=,+-], not "." or "..", at most `MAX_PATH_PART`
    bytes, so that it can neither leave the archive nor exceed the file system's limit."""
    if not isinstance(value, str) or not PATH_PART.fullmatch(value) or value in (".", ".."):
        return "a plain name of letters, digits and _ . = , + - (not '.' or '..')"
    if len(value.encode()) > MAX_PATH_PART:
        return f"a name of at most {MAX_PATH_PART} bytes"
    return None


def record_problem(record: Mapping[str, Any]) -> str | None:
    """``"<field>: expected ..., got ..."`` for the first field of a results.json record that
    breaks `RECORD_RULES` (or, inside ``timing``, `TIMING_RULES` as ``timing.<key>``; absent
    fields are left to the caller), a dataset or method that is no plain folder name
    (`path_part_problem`: archive_results.py and report.py refuse the same records), a figure
    of ``metrics``/``best_metrics`` outside its domain (`metric_problem`), or a setting the
    report interprets (`setting_problem`); else None."""
    timing = record.get("timing") or {}
    fields = [(key, rule, record) for key, rule in RECORD_RULES.items()]
    fields += [(f"timing.{key}", rule, timing) for key, rule in TIMING_RULES.items()]
    for name, rule, where in fields:
        key = name.rsplit(".", 1)[-1]
        if isinstance(where, Mapping) and key in where:
            try:
                rule.check(name, where[key])
            except ConfigError as err:
                return str(err)
    for key in PATH_PART_KEYS:  # the archive's folder names, the report's row names
        problem = path_part_problem(record[key]) if record.get(key) is not None else None
        if problem is not None:
            return f"{key}: expected {problem}, got {record[key]!r}"
    for field in ("metrics", "best_metrics"):
        if isinstance(record.get(field), Mapping):
            problem = metric_problem(field, record[field])
            if problem:
                return problem
    return setting_problem(record)


def read_record(path: Path) -> dict[str, Any]:
    """The results.json at ``path`` as a dict; DataError naming the file when it is unreadable
    or not a JSON object (a list, a number...)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(path, None, f"expected a readable JSON file ({err})") from err
    if not isinstance(data, dict):
        got = type(data).__name__
        raise DataError(path, None, f"expected a JSON object (a results.json), got a {got}")
    return data


def check_record(path: Path, data: Mapping[str, Any], required: Iterable[str]) -> None:
    """Raise DataError naming ``path`` and the field when ``data`` breaks the schema
    (`record_problem`) or lacks one of the ``required`` fields."""
    problem = record_problem(data)
    if problem is not None:
        key, _, what = problem.partition(": ")
        raise DataError(path, key, what)
    for key in required:
        if key not in data:
            raise DataError(path, key, "missing; expected a results.json of src/train.py")
