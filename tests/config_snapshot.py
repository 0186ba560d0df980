"""Fully composed configs of every experiment and config option, as a readable JSON snapshot.

The snapshot (tests/data/composed_configs.json) records what each command users type resolves
to, key by key, so that reorganising the config files (composition, shared defaults) is proven
not to change any value. tests/test_composed_configs.py compares today's composition with it.

A change of a default made on purpose changes the snapshot too: regenerate it and commit the
diff with the change, so the reviewer sees every value it moved:

    python tests/config_snapshot.py            # rewrites tests/data/composed_configs.json
    git diff tests/data/composed_configs.json  # the values that changed

Paths are resolved against fixed placeholders (PROJECT_ROOT, the run directory, the working
directory) and Hydra's own config and the git-ignored `local` group are left out, so the
snapshot does not depend on the machine or the time.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import src.data.synthetic  # noqa: E402, F401  (the resolver of configs/data/synthetic.yaml)

CONFIGS = ROOT / "configs"
SNAPSHOT = ROOT / "tests" / "data" / "composed_configs.json"
PLACEHOLDER_ROOT = "PROJECT_ROOT"
PLACEHOLDER_RUN = "RUN_DIR"
PLACEHOLDER_CWD = "CWD"


def options(group: str) -> list[str]:
    """The option names of a config group (its yaml files, sorted)."""
    return sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))


def commands() -> dict[str, tuple[str, list[str]]]:
    """Every snapshotted command: name -> (primary config, overrides).

    The defaults of train.yaml and eval.yaml, each data and model option on its own and every
    experiment config that existed when the snapshot was made.
    """
    runs: dict[str, tuple[str, list[str]]] = {"train": ("train", []), "eval": ("eval", [])}
    for group in ("data", "model"):
        for option in options(group):
            runs[f"train {group}={option}"] = ("train", [f"{group}={option}"])
    for option in options("data"):
        runs[f"eval data={option}"] = ("eval", [f"data={option}"])
    for option in options("experiment"):
        runs[f"train experiment={option}"] = ("train", [f"experiment={option}"])
    return runs


def composed(config: str, overrides: list[str]) -> dict[str, Any]:
    """The resolved config of `python src/<config>.py <overrides>`, without Hydra's own part.

    Raises hydra.errors.HydraException (or a subclass) when the config does not compose.
    """
    previous = os.environ.get("PROJECT_ROOT")
    os.environ["PROJECT_ROOT"] = PLACEHOLDER_ROOT
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(
                config_name=config,
                overrides=[*overrides, "~local", f"hydra.run.dir={PLACEHOLDER_RUN}"],
                return_hydra_config=True,
            )
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = PLACEHOLDER_RUN
            cfg.hydra.runtime.cwd = PLACEHOLDER_CWD
            cfg.hydra.job.num = 0
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    finally:
        GlobalHydra.instance().clear()
        if previous is None:
            os.environ.pop("PROJECT_ROOT", None)
        else:
            os.environ["PROJECT_ROOT"] = previous


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value} of a nested dict (lists are leaves), e.g. {"model.alpha": 1}."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    if not node and prefix:
        flat[prefix] = {}
    return flat


def snapshot() -> dict[str, Any]:
    """{command name: {"config", "overrides", "composed"}} for every command of `commands()`."""
    return {
        name: {"config": config, "overrides": overrides, "composed": composed(config, overrides)}
        for name, (config, overrides) in commands().items()
    }


def main() -> int:
    """Rewrite tests/data/composed_configs.json from the configs as they are now."""
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snapshot(), indent=1, sort_keys=True) + "\n"
    SNAPSHOT.write_text(text)
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} ({len(commands())} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
