"""How a run's settings differ from today's configuration of its experiment.

``settings_drift`` returns, as ``key=value`` overrides, the settings of a results.json that
differ from what its experiment composes to now (``configs/experiment/<dataset>_<method>.yaml``
with the run's code length). ``src/report/runs.py`` adds them to the run's variant, so that a run
made before a default changed gets a row of its own instead of being averaged with runs of the
new default, and ``archive_results.py`` files it apart.

Runs written before results.json recorded ``settings`` are placed by their commit against the
default changes of ``DEFAULT_CHANGES``: by git history when this checkout has it, else by the
commits of the archived runs (``LEGACY_COMMITS`` before the change, ``CURRENT_COMMITS`` after).
A run that neither can place raises UnknownSettings (the report skips it and says why), never
taken as configured.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# Default changes made before results.json recorded ``settings``: (method, the commit that
# changed them, the values before it in today's keys). AGCH at 2d7c699: image learning rate
# 1e-2 -> 1e-4, GCN bias inside the aggregation -> none (docs/model.md).
DEFAULT_CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("agch", "2d7c699", {"model.gcn_bias": "inside", "model.lr_image": 0.01}),
]
# Default changes made after results.json recorded ``settings``, with the values before them:
# a run without recorded settings precedes them all. AGCH at f8ffe94 (docs/model.md, "Making
# AGCH's parts learn"): GCN graph S -> 2S-1, image learning rate 1e-4 -> 1e-2.
LATER_CHANGES: dict[str, dict[str, Any]] = {
    "agch": {"model.adjacency": "S", "model.lr_image": 1e-4}
}
# Settings added after runs were archived: per method, the value every run made before the key
# existed ran with (its results.json lacks the key). AGCH's gcn_lr_on (f8ffe94): lr_gcn was a
# step on L.
ADDED_SETTINGS: dict[str, dict[str, Any]] = {"agch": {"model.gcn_lr_on": "L"}}
# Without git history (a copy without .git, a shallow clone): the commits of the runs archived
# before 2d7c699, so that results/ is read the same way anywhere.
LEGACY_COMMITS = ("c96aeb7", "57bbd21", "3fc5e04", "0477f5f", "5eb96d6")
# ... and those of the archived runs made after it, before ``settings`` was recorded
CURRENT_COMMITS = ("5d2078b", "1eb3644")
# the commit from which results.json records ``settings``: a file of it or a later one without
# them (or with ``"settings": null``) is no legacy run and is not placed by commit
SETTINGS_RECORDED = "0ab25fd"


class UnknownSettings(Exception):
    """A results.json without ``settings`` whose commit cannot be placed before or after a
    default change of its method."""


class SettingsNotRecorded(UnknownSettings):
    """A results.json whose ``settings`` are null, or missing although its commit records
    them: what it ran with is unknown (its commit's defaults would be a guess)."""


@lru_cache(maxsize=None)
def _before(commit: str, change: str) -> bool | None:
    """Whether ``commit`` precedes ``change`` in this checkout's history; None when git cannot
    tell (no git, no repository, a commit it does not hold)."""
    if not all(_git("cat-file", "-e", f"{known}^{{commit}}") for known in (commit, change)):
        return None
    if _git("merge-base", "--is-ancestor", change, commit):
        return False  # the change itself or a descendant of it
    return _git("merge-base", "--is-ancestor", commit, change)


def _git(*args: str) -> bool:
    """Whether ``git ARGS`` succeeds in this checkout (False when git is missing or hangs)."""
    try:
        done = subprocess.run(["git", *args], cwd=CONFIGS.parent, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def legacy_settings(method: str, commit: str) -> dict[str, Any]:
    """The values a run without recorded ``settings`` had where they differ from today's:
    those before each DEFAULT_CHANGES entry of its method that its commit precedes (by git
    history, else by LEGACY_COMMITS), over those before the LATER_CHANGES (which every such run
    precedes). Raises UnknownSettings when neither can place it."""
    values: dict[str, Any] = dict(LATER_CHANGES.get(method, {}))
    for changed_method, change, before in DEFAULT_CHANGES:
        if changed_method != method:
            continue
        earlier = _before(commit, change) if commit else None
        if earlier is None:
            if any(commit.startswith(c) for c in LEGACY_COMMITS):
                earlier = True
            elif any(commit.startswith(c) for c in CURRENT_COMMITS):
                earlier = False
            else:
                raise UnknownSettings(f"commit {commit or '(none)'} not placed against {change}")
        if earlier:
            values |= before
    return values


@lru_cache(maxsize=None)
def configured_settings(dataset: str, method: str, bits: int) -> dict[str, Any] | None:
    """The settings (src/utils/run_setting.py) of ``experiment=<dataset>_<method>`` at
    ``bits`` bits as composed now; None when there is no such experiment."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.utils.run_setting import result_settings

    if not (CONFIGS / "experiment" / f"{dataset}_{method}.yaml").is_file():
        return None
    overrides = [f"experiment={dataset}_{method}", f"model.code_length={bits}"]
    GlobalHydra.instance().clear()  # a report runs outside Hydra; tests may leave it set
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return result_settings(compose("train.yaml", overrides=overrides))


def _today(data: dict[str, Any]) -> dict[str, Any] | None:
    """``configured_settings`` of a results.json's dataset, method and code length; None when
    they are missing or malformed or the experiment does not exist."""
    try:
        return configured_settings(
            str(data.get("dataset")), str(data.get("method")), int(data["code_length"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def settings_drift(data: dict[str, Any]) -> list[str]:
    """``key=value`` for each recorded setting of a results.json (for a file without them,
    ``legacy_settings``) that differs from today's configured value; a key added since the run
    (``ADDED_SETTINGS``) counts with the value the run had; other keys either side lacks are
    not compared. [] when the run's experiment does not compose (no such config) or
    nothing is known. Raises UnknownSettings (``legacy_settings``), SettingsNotRecorded for
    ``"settings": null`` or a file of a commit that records them without them."""
    method, commit = str(data.get("method")), str(data.get("git_commit") or "")
    recorded = data.get("settings")
    if "settings" in data and not isinstance(recorded, dict):
        raise SettingsNotRecorded(f'"settings": {json.dumps(recorded)[:40]}')
    if recorded is None and commit and _before(commit, SETTINGS_RECORDED) is False:
        raise SettingsNotRecorded(f"missing, although its commit {commit} records them")
    if recorded is None:
        recorded = legacy_settings(method, commit)
    today = _today(data)
    if not recorded or today is None:
        return []
    recorded = {**ADDED_SETTINGS.get(method, {}), **recorded}  # keys added since: old values
    return [
        f"{key}={_plain(value)}"
        for key, value in sorted(recorded.items())
        if key in today and not _same(value, today[key])
    ]


def normalise_overrides(data: dict[str, Any], parts: list[str]) -> list[str]:
    """The result-changing overrides ``parts`` of a results.json in one spelling: a setting's
    value written as ``settings_drift`` writes it (``model.lr_image=1e-2`` ->
    ``model.lr_image=0.01``), and dropped when it equals today's configured value (a command
    that names a default is the experiment as configured). Parts that are no plain change of a
    known setting are kept as written."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    today = _today(data)
    parser, kept = OverridesParser.create(), []
    for part in parts:
        try:
            (override,) = parser.parse_overrides([part])
            key, value = override.key_or_group, override.value()
        except Exception:  # noqa: BLE001 (a form Hydra rejects today: kept as written)
            kept.append(part)
            continue
        if today is None or key not in today or override.is_delete() or part[0] in "+~":
            kept.append(part)
        elif not _same(value, today[key]):
            kept.append(f"{key}={_plain(value)}")
    return sorted(kept)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON would store them (1e-4 == 0.0001, [1, 10] == (1, 10))."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _plain(value: Any) -> str:
    """A value as an override writes it: lists as [a,b], None as null, bools lower-case."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_plain(v) for v in value) + "]"
    return str(value)
