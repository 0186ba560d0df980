"""The configuration door in-process: Hydra's composition (its errors as `composition_error`
turns them into one line) then `check_config`, as train.py's job runs them, for tests that
try many command lines cheaply."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from src.utils.composition_errors import composition_error
from src.utils.config_rules import check_config
from src.utils.errors import ConfigError
from src.utils.run_dirs import register_resolvers

ROOT = Path(__file__).resolve().parents[1]
register_resolvers()


def composed_run(
    words: list[str],
    configs: Path = ROOT / "configs",
    name: str = "train",
    output_dir: str = "/nonexistent/run",
) -> DictConfig:
    """``name``.yaml (train.yaml, eval.yaml) composed with the command-line ``words`` as the
    script's job sees it (Hydra's run config set, its output folder ``output_dir``, the
    ``hydra`` node removed); Hydra's composition errors propagate."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
        cfg = compose(name, overrides=list(words), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = output_dir
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def door(
    words: list[str], configs: Path = ROOT / "configs"
) -> tuple[str | None, DictConfig | None]:
    """(the refusal line or None, the configuration when it composed) of a command line."""
    try:
        cfg = composed_run(words, configs)
    except Exception as exc:  # noqa: BLE001  (what run_cli catches before the job)
        return composition_error(exc, list(words)), None
    try:
        check_config(cfg)
    except ConfigError as exc:
        return str(exc), cfg
    return None, cfg


def sweep_door(words: list[str], log_dir: Path, script: str = "train") -> tuple[int, list[str]]:
    """(exit status, stderr lines) of ``script``'s sweep door (`check_sweep`, as
    `HoldRunDir.on_multirun_start` runs it: one line and exit 2 for a refusal) on the
    command line ``words`` given with -m, run folders under ``log_dir``; a composition error
    is one line and exit 2, as `run_cli` prints it."""
    import contextlib
    import io

    from hydra.types import RunMode

    from src.eval import eval_door
    from src.train import train_door
    from src.utils.errors import error_line, one_line_errors
    from src.utils.sweep_door import check_sweep, use_door

    use_door(train_door if script == "train" else eval_door)
    err = io.StringIO()
    GlobalHydra.instance().clear()
    words = [*words, f"paths.log_dir={log_dir}", "hydra.mode=MULTIRUN"]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        try:
            config = loader.load_configuration(script, words, run_mode=RunMode.MULTIRUN)
        except Exception as exc:  # noqa: BLE001  (what run_cli catches)
            return 2, [error_line(ConfigError(composition_error(exc, words)))]
        with contextlib.redirect_stderr(err):
            try:
                with one_line_errors():
                    check_sweep(config)
                status = 0
            except SystemExit as exit_:
                status = int(exit_.code)
    return status, err.getvalue().splitlines()
