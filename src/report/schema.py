"""The schema of the results.json files that src/utils/records.py writes, as report.py reads
them: each field's type and range, by declaration (the rules of src/utils/config_rules.py).
A record that breaks it is skipped with a line naming the file, the field and what was
expected, never a traceback or an odd row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from src.models.checks import MAX_CODE_LENGTH
from src.utils.rule_kinds import SEED_MAX, STR, Rule, choice, integer
from src.utils.errors import ConfigError

MAPPING = Rule("mapping")

# results.json fields (src/utils/records.py: run_info, write_run_records, write_failed_record)
RECORD_RULES: dict[str, Rule] = {
    "status": choice("completed", "failed"),
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
}


def record_problem(record: Mapping[str, Any]) -> str | None:
    """``"<field>: expected ..., got ..."`` for the first field of a results.json record that
    breaks `RECORD_RULES` (absent fields are left to the caller), else None."""
    for key, rule in RECORD_RULES.items():
        if key in record:
            try:
                rule.check(key, record[key])
            except ConfigError as err:
                return str(err)
    return None
