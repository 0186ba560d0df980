"""Hand-made results.json files for the tests of scripts/report.py and archive_results.py."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("i2t_map@50", "t2i_map@50", "i2t_map@all", "t2i_map@all")
DIRS = ("i2t", "t2i")
# test/<metric> of seed 0; seed 1 adds 0.02, so a row is mean = value + 0.01, std = 0.0141
BASE = {
    ("agch", 16): (0.40, 0.60, 0.30, 0.50),
    ("agch", 32): (0.44, 0.64, 0.34, 0.54),
    ("djsrh", 16): (0.38, 0.58, 0.28, 0.48),
    ("djsrh", 32): (0.40, 0.62, 0.32, 0.52),
}


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def result(method: str, bits: int, seed: int, **changes) -> dict:
    """A results.json of today's code: its ``settings`` are what its experiment composes to
    now (a ``settings=`` change replaces them)."""
    from src.report.drift import configured_settings

    values = [v + 0.02 * seed for v in BASE[(method, bits)]]
    dataset = changes.get("dataset", "wiki")
    return {
        "settings": configured_settings(dataset, method, bits) or {},
        "task_name": "train",
        "dataset": "wiki",
        "synthetic": False,
        "method": method,
        "code_length": bits,
        "seed": seed,
        "overrides": [
            f"experiment={dataset}_{method}",
            f"model.code_length={bits}",
            f"seed={seed}",
        ],
        "metrics": {"val/map@50": 0.5, **{f"test/{m}": v for m, v in zip(METRICS, values)}},
        **changes,
    }


def write(path: Path, payload: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def heldout(method: str, bits: int, seed: int, setting: list[str], val: tuple, **changes) -> dict:
    """A held-out selection run: ``val`` = (val/i2t_map@50, val/t2i_map@50); its test numbers
    are 0.01 (far from every official row, so a leak into a protocol table shows)."""
    run = result(method, bits, seed, val_mode="heldout", **changes)
    run["overrides"] += ["data.val_mode=heldout", *setting]
    run["metrics"] = {f"test/{m}": 0.01 for m in METRICS} | {
        "val/i2t_map@50": val[0],
        "val/t2i_map@50": val[1],
    }
    return run
