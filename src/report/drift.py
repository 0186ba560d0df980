"""How a run's settings differ from today's configuration of its experiment.

``settings_drift`` returns, as ``key=value`` overrides, the settings of a results.json that
differ from what its experiment composes to now (``configs/experiment/<dataset>_<method>.yaml``
with the run's code length). ``src/report/runs.py`` adds them to the run's variant, so that a run
made before a default changed gets a row of its own instead of being averaged with runs of the
new default, and ``archive_results.py`` files it apart.

Runs written before results.json recorded ``settings`` are looked up in ``LEGACY_SETTINGS``: the
commits at which runs were archived with defaults that have changed since, and the overrides
that reproduce them today (docs/results.md, "Code versions"). A run without settings and not
listed there is taken as configured.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# (method, commit prefix) -> the values those runs had, in today's keys. AGCH before 2d7c699:
# image learning rate 1e-2 and the GCN bias inside the aggregation (docs/model.md).
_OLD_AGCH = {"model.gcn_bias": "inside", "model.lr_image": 0.01}
LEGACY_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    ("agch", commit): _OLD_AGCH
    for commit in ("c96aeb7", "57bbd21", "3fc5e04", "0477f5f", "5eb96d6")
}


@lru_cache(maxsize=None)
def configured_settings(dataset: str, method: str, bits: int) -> dict[str, Any] | None:
    """The settings (src/utils/run_settings.py) of ``experiment=<dataset>_<method>`` at
    ``bits`` bits as composed now; None when there is no such experiment."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.utils.run_settings import result_settings

    if not (CONFIGS / "experiment" / f"{dataset}_{method}.yaml").is_file():
        return None
    overrides = [f"experiment={dataset}_{method}", f"model.code_length={bits}"]
    GlobalHydra.instance().clear()  # a report runs outside Hydra; tests may leave it set
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return result_settings(compose("train.yaml", overrides=overrides))


def settings_drift(data: dict[str, Any]) -> list[str]:
    """``key=value`` for each recorded setting of a results.json (or its LEGACY_SETTINGS entry)
    that differs from today's configured value; keys either side lacks are not compared. []
    when the run's experiment does not compose (no such config) or nothing is known."""
    method, commit = str(data.get("method")), str(data.get("git_commit") or "")
    recorded = data.get("settings")
    if not isinstance(recorded, dict):
        recorded = next(
            (
                v
                for (m, c), v in LEGACY_SETTINGS.items()
                if m == method and c and commit.startswith(c)
            ),
            {},
        )
    if not recorded:
        return []
    try:
        today = configured_settings(str(data.get("dataset")), method, int(data["code_length"]))
    except (KeyError, TypeError, ValueError):
        return []
    if today is None:
        return []
    return [
        f"{key}={_plain(value)}"
        for key, value in sorted(recorded.items())
        if key in today and not _same(value, today[key])
    ]


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
