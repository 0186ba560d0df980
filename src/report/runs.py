"""The results.json files of runs, read, checked and grouped into the rows of a report.

A row is (dataset, method, variant, bits); the variant is the result-changing overrides
beyond the experiment other than ``data.val_mode`` (src/utils/run_setting.py), plus the
settings that differ from today's configuration of the experiment (src/report/drift.py: a run
made before a default changed); "" for the experiment as configured. Each metric is the test
value of the last epoch.

A run's ``mode`` is its ``data.val_mode`` (docs/data.md, "Validation modes"): ``official`` runs
(results.json without the key: written before it existed, all official) make the protocol
tables; ``heldout`` runs are selection runs, trained without their validation pairs, whose
last-epoch ``val/...`` metrics (VAL_METRICS) are kept and whose test numbers are not protocol
numbers.
"""

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from src.report.run_skips import TASK_SKIP
from src.report.schema import record_problem
from src.report.drift import (
    SettingsNotRecorded,
    UnknownSettings,
    normalise_overrides,
    settings_drift,
)
from src.utils.run_setting import variant_parts

DIRECTIONS = {"i2t": "I->T", "t2i": "T->I"}
METRICS = ("i2t_map@50", "t2i_map@50", "i2t_map@all", "t2i_map@all")
VAL_METRICS = ("i2t_map@50", "t2i_map@50")  # val/<metric> of a held-out run, last epoch
OFFICIAL, HELDOUT = "official", "heldout"
MODE_OVERRIDE = "data.val_mode="
RUN_KEYS = ("dataset", "method", "code_length", "seed", "metrics")
HEALTH = "health/"  # prefix of the training-health figures in results.json metrics


class Skip(Exception):
    """A results.json that cannot be used, with the reason."""


@dataclass
class Run:
    """The fields of one results.json that the report uses."""

    path: Path
    dataset: str
    method: str
    bits: int
    seed: Any
    synthetic: bool
    metrics: dict[str, float]
    # result-changing overrides beyond the experiment ("" for the experiment as configured)
    variant: str
    # variant's two parts: the command's overrides, and the settings that differ from today's
    # configuration without the command naming them (a default changed since)
    own: str = ""
    drift: str = ""
    # data.val_mode: OFFICIAL (protocol) or HELDOUT (selection run)
    mode: str = OFFICIAL
    # val/<metric> of the last epoch for VAL_METRICS (held-out runs only)
    val_metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] | None = field(default=None)
    # final training-health figures, "<module>/<figure>" -> value (src/callbacks/health.py);
    # empty for runs made before the callback or methods without trained modules
    health: dict[str, float] = field(default_factory=dict)
    # (image_dim, text_dim) of the run's store; None for results.json written before they were
    # recorded (one unnamed store per dataset, src/report/stores.py)
    store: tuple[int, int] | None = None
    # results.json timing.total_s of a run not resumed (a resumed run timed its part only), and
    # the device and threads it ran with; None when not recorded (src/utils/timing.py)
    time_s: float | None = None
    machine: str | None = None
    # the dataset's own name where ``dataset`` names its store too (src/report/stores.py)
    base: str = ""
    # whether its command named an experiment (``experiment=...``): without one, its drift
    # is what it ran with where the experiment sets otherwise, not an earlier default
    experiment: bool = True

    @property
    def config_dataset(self) -> str:
        """The dataset as its configs name it (``configs/experiment/<dataset>_...``)."""
        return self.base or self.dataset


# the variant part that marks a run whose test codes collapsed (its own row in every table)
COLLAPSE_MARK = "TEST CODES COLLAPSED"


def load_run(path: Path, tasks: set[str] | None) -> Run:
    """Read one results.json (and curves.json beside it); raises Skip with the reason."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Skip(f"unreadable ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict):
        raise Skip("unreadable (not a JSON object)")
    problem = record_problem(data)  # first: a status of another type is no failed run
    if problem is not None:
        raise Skip(f"not a results.json as src/train.py writes it: {problem}")
    if data.get("status", "completed") != "completed":  # a failed job, an incomplete run
        raise Skip(f"status {data['status']}: {data.get('error') or 'no reason recorded'}")
    missing = [key for key in RUN_KEYS if key not in data]
    if missing:
        raise Skip(f"missing keys: {', '.join(missing)}")
    if tasks is not None and data.get("task_name") not in tasks:
        raise Skip(TASK_SKIP.format(data.get("task_name")))
    mode, own, drift = setting_parts(data)
    # a held-out selection run is read for its validation numbers only (its test numbers, of a
    # model trained on fewer items, are never shown; `test=false` runs have none)
    metrics = finite(data["metrics"], "test", METRICS) if mode != HELDOUT else {}
    val_metrics = finite(data["metrics"], "val", VAL_METRICS) if mode == HELDOUT else {}
    return Run(
        path=path,
        dataset=str(data["dataset"]),
        method=str(data["method"]),
        bits=int(data["code_length"]),
        seed=data["seed"],
        synthetic=bool(data.get("synthetic", False)),
        metrics=metrics,
        variant=",".join(sorted(own + drift) + collapse_mark(data)),
        own=",".join(own),
        drift=",".join(drift),
        mode=mode,
        val_metrics=val_metrics,
        curves=load_curves(path.with_name("curves.json")),
        health=health_figures(data["metrics"]),
        store=store_widths(data),
        experiment=any(
            str(o).lstrip("+").startswith("experiment=") for o in data.get("overrides") or []
        ),
        **run_time(data.get("timing") or {}),
    )


def collapse_mark(data: dict[str, Any]) -> list[str]:
    """``["TEST CODES COLLAPSED"]`` for a run whose test codes collapsed (its ``collapsed``
    flag or ``test/collapsed`` 1, src/utils/records.py): its own row, never averaged with
    working seeds; else []."""
    metrics = data.get("metrics") or {}
    collapsed = data.get("collapsed") or metrics.get("test/collapsed") == 1
    return [COLLAPSE_MARK] if collapsed else []


def store_widths(data: dict[str, Any]) -> tuple[int, int] | None:
    """(image_dim, text_dim) of a results.json's store; None unless both are recorded."""
    dims = data.get("image_dim"), data.get("text_dim")
    return None if None in dims else (int(dims[0]), int(dims[1]))


def run_time(timing: dict[str, Any]) -> dict[str, Any]:
    """``time_s`` (the whole run's wall-clock seconds, None for a resumed run or without a
    record) and ``machine`` ("<device>, <threads> threads") of a results.json ``timing``."""
    total = timing.get("total_s")
    device, threads = timing.get("device"), timing.get("threads")
    plural = "" if threads == 1 else "s"
    machine = (
        None if device is None else device + (f", {threads} thread{plural}" if threads else "")
    )
    whole = total is not None and not timing.get("resumed")
    return {"time_s": float(total) if whole else None, "machine": machine}


def health_figures(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite ``health/<module>/<figure>`` values of a results.json's metrics, keyed
    ``<module>/<figure>``; other keys and non-numbers are left out."""
    return {
        key[len(HEALTH) :]: float(value)
        for key, value in metrics.items()
        if key.startswith(HEALTH)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


def finite(metrics: dict[str, Any], stage: str, names: Iterable[str]) -> dict[str, float]:
    """``{name: metrics[f"{stage}/{name}"]}`` as floats; raises Skip naming the missing or
    non-finite ones (train.py writes NaN as null)."""
    missing = [f"metrics/{stage}/{m}" for m in names if f"{stage}/{m}" not in metrics]
    if missing:
        raise Skip(f"missing keys: {', '.join(missing)}")
    values = {m: metrics[f"{stage}/{m}"] for m in names}
    bad = [m for m, v in values.items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        raise Skip(f"non-finite metrics: {', '.join(f'{stage}/{m}' for m in bad)}")
    return {m: float(v) for m, v in values.items()}


def setting(data: dict[str, Any]) -> tuple[str, str]:
    """The (mode, variant) of a results.json: mode is its ``val_mode`` key, else the
    ``data.val_mode=`` override, else OFFICIAL (files written before the key); variant is
    ``setting_parts``'s overrides and drift together, sorted. Raises Skip for an unknown mode."""
    mode, own, drift = setting_parts(data)
    return mode, ",".join(sorted(own + drift))


def setting_parts(data: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(mode, own, drift): ``own`` the result-changing overrides other than ``data.val_mode``
    (src/utils/run_setting.py); ``drift`` the settings in which the run differs from today's
    configuration of its experiment although its command did not name them (a default changed
    since; src/report/drift.py), each as ``key=value``."""
    overrides = [str(o) for o in data.get("overrides") or []]
    named = [o.lstrip("+~")[len(MODE_OVERRIDE) :] for o in overrides if is_mode(o)]
    mode = data.get("val_mode") or (named[-1] if named else OFFICIAL)
    if mode not in (OFFICIAL, HELDOUT):
        raise Skip(f"val_mode {mode!r}: expected {OFFICIAL!r} or {HELDOUT!r}")
    own = normalise_overrides(data, variant_parts(o for o in overrides if not is_mode(o)))
    keys = {part.split("=", 1)[0].lstrip("+~") for part in own}
    keys.add(MODE_OVERRIDE.rstrip("="))
    try:
        drift = [d for d in settings_drift(data) if d.split("=", 1)[0] not in keys]
    except SettingsNotRecorded as err:  # its defaults would be a guess: no row to put it in
        raise Skip(f"settings not recorded ({err}): what it ran with is unknown; rerun it")
    except UnknownSettings as err:
        raise Skip(f"settings unknown ({err}): rerun it, or add its commit to src/report/drift.py")
    return mode, own, drift


def is_mode(override: str) -> bool:
    """Whether ``override`` sets data.val_mode."""
    return override.lstrip("+~").startswith(MODE_OVERRIDE)


def load_curves(path: Path) -> dict[str, dict[str, list[float]]] | None:
    """The last-epoch test curves of curves.json, or None when absent or unreadable."""
    try:
        return json.loads(path.read_text())["test"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def collect(dirs: Iterable[Path], tasks: set[str] | None) -> tuple[list[Run], list[str]]:
    """Every usable run under `dirs` (recursively), and a line per skipped file: one that is
    no readable file (a loop of links, a link to a missing path: `input_reason`) included."""
    from src.utils.paths import input_reason

    runs, skipped = [], []
    # "results.jso[n]": a wildcard lists every entry of the name, a link that leads nowhere
    # too (a plain "results.json" keeps only paths that exist: a loop was left out unsaid)
    found = {p.absolute() for d in dirs for p in Path(d).rglob("results.jso[n]")}
    unusable = {p: input_reason(p) for p in found}
    paths = {p.resolve() for p in found if unusable[p] is None}
    for path in sorted(paths | {p for p, reason in unusable.items() if reason}):
        try:
            if unusable.get(path):
                raise Skip(f"unreadable ({unusable[path]})")
            runs.append(load_run(path, tasks))
        except Skip as reason:
            skipped.append(f"{path}: {reason}")
    return runs, skipped


Key = tuple[str, str, str, int]  # dataset, method, variant, bits


def split_modes(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """The official runs (protocol tables) and the held-out selection runs, in order."""
    return [r for r in runs if r.mode != HELDOUT], [r for r in runs if r.mode == HELDOUT]


def group(runs: list[Run]) -> dict[Key, list[Run]]:
    """Runs by (dataset, method, variant, bits), in that sort order."""
    groups: dict[Key, list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.method, run.variant, run.bits)].append(run)
    return dict(sorted(groups.items()))


def configured(groups: dict[Key, list[Run]]) -> dict[Key, list[Run]]:
    """The rows of the experiments as configured (no ablation or other variant)."""
    return {key: runs for key, runs in groups.items() if not key[2]}


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single run)."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else None


def cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
