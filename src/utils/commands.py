"""Commands that error lines print: whole command lines that work, built from this run's own
command-line overrides (Hydra's task overrides), never a fragment with ``...`` to fill in.

`train_command` resumes or extends a training run: the run's overrides, a checkpoint and the
run folder it belongs to; `folder_resume_command` does the same for a run folder another
command was pointed at, from the overrides that folder records (``.hydra/overrides.yaml``).
`eval_command` tests a checkpoint with src/eval.py on the run's data: eval.py has no
``experiment`` or ``model`` group (the checkpoint holds the model), so only the overrides of
the groups it shares are kept, and the store is named by its resolved path.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

# config groups and keys of configs/eval.yaml that a training run's overrides may set
EVAL_KEYS = ("data", "paths", "trainer", "extras", "logger", "callbacks", "seed")


def task_overrides() -> list[str]:
    """This run's command-line overrides ([] outside a Hydra run)."""
    from src.utils.key_sources import command_line

    return command_line()  # as typed: never resolved (trial 10 F1)


def same_command() -> str:
    """This command as it was typed: the script and its command-line overrides, quoted."""
    return shlex.join(["python", sys.argv[0], *task_overrides()])


def _key(override: str) -> str:
    """The key an override sets (``+data.x=1`` -> ``data.x``)."""
    return override.split("=", 1)[0].lstrip("+~")


def run_folder(ckpt: str | os.PathLike) -> Path | None:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/<name>.ckpt`` with
    ``<run>/.hydra``), else None."""
    parent = Path(os.path.abspath(ckpt)).parent
    if parent.name == "checkpoints" and (parent.parent / ".hydra").is_dir():
        return parent.parent
    return None


def train_command(ckpt: str | os.PathLike, **values: Any) -> str:
    """``python src/train.py`` with this run's overrides, ``ckpt_path=<ckpt>``, the given
    ``values`` (``trainer__max_epochs=3`` sets ``trainer.max_epochs=3``) and the folder to run
    in: the one the command named, else the checkpoint's own run folder (`run_folder`)."""
    sets = {key.replace("__", "."): value for key, value in values.items()}
    overrides = task_overrides()
    kept = [o for o in overrides if _key(o) not in {"ckpt_path", *sets}]
    words = ["python", sys.argv[0], *kept, f"ckpt_path={os.path.abspath(ckpt)}"]
    words += [f"{key}={value}" for key, value in sets.items()]
    folder = run_folder(ckpt)
    named = "hydra.run.dir" in sets or any(_key(o) == "hydra.run.dir" for o in kept)
    if folder is not None and not named:
        words.append(f"hydra.run.dir={folder}")
    return shlex.join(words)


def eval_command(cfg: DictConfig, ckpt: str | os.PathLike) -> str:
    """``python src/eval.py`` testing ``ckpt`` on this run's data: the ``data=`` choice, the
    overrides of the groups eval.py shares (`EVAL_KEYS`) and the store's resolved path."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    path = OmegaConf.select(cfg, "data.path", default=None)
    own = ("data", "data.path") if path else ("data",)  # without cfg: the override as given
    kept = [
        o for o in task_overrides() if _key(o).split(".")[0] in EVAL_KEYS and _key(o) not in own
    ]
    words = ["python", str(Path(sys.argv[0]).with_name("eval.py"))]
    if choices.get("data"):
        words.append(f"data={choices['data']}")
    words += [*kept, f"ckpt_path={os.path.abspath(ckpt)}"]
    if path:
        words.append(f"data.path={os.path.abspath(str(path))}")
    return shlex.join(words)


def recorded_overrides(run_dir: str | os.PathLike) -> list[str]:
    """The command-line overrides the run in ``run_dir`` was started with (Hydra's record,
    ``<run_dir>/.hydra/overrides.yaml``); [] when it has none or an unreadable one."""
    try:
        values = OmegaConf.to_container(OmegaConf.load(Path(run_dir) / ".hydra/overrides.yaml"))
    except Exception:  # noqa: BLE001  missing, unreadable or not YAML: nothing recorded
        return []
    return [str(v) for v in values] if isinstance(values, list) else []


def recorded_max_epochs(run_dir: str | os.PathLike) -> int | None:
    """``trainer.max_epochs`` of the run in ``run_dir`` as its ``.hydra/config.yaml`` records
    it, or None (no record, an unresolvable or non-integer value)."""
    try:
        config = OmegaConf.load(Path(run_dir) / ".hydra/config.yaml")
        value = OmegaConf.select(config, "trainer.max_epochs", default=None)
    except Exception:  # noqa: BLE001  missing or unreadable record
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def folder_resume_command(
    run_dir: str | os.PathLike, ckpt: str | os.PathLike, **values: Any
) -> str:
    """``python src/train.py`` going on with the run in ``run_dir``: its recorded overrides
    (`recorded_overrides`, less ``ckpt_path``, ``hydra.run.dir`` and the keys of ``values``),
    shell-quoted, then ``ckpt_path=<ckpt>``, ``values`` (``trainer__max_epochs=3``) and
    ``hydra.run.dir=<run_dir>``: the whole command, as it works when pasted."""
    sets = {key.replace("__", "."): value for key, value in values.items()}
    dropped = {"ckpt_path", "hydra.run.dir", *sets}
    kept = [o for o in recorded_overrides(run_dir) if _key(o) not in dropped]
    script = str(Path(sys.argv[0]).with_name("train.py"))
    words = ["python", script, *kept, f"ckpt_path={ckpt}"]
    words += [f"{key}={value}" for key, value in sets.items()]
    return shlex.join([*words, f"hydra.run.dir={run_dir}"])


def start_over(cfg: DictConfig, kept: bool) -> str:
    """How to start a run over that left nothing resumable: the same command, unless its
    folder keeps a checkpoint or results.json, which refuses the same command (trial 9,
    fault 12: "run the command again" after SIGTERM, then "holds an earlier run"). ``kept``:
    whether the folder keeps such files (`src.utils.jobs.wrote_work`)."""
    run_dir = cfg.paths.output_dir
    if not kept:
        return "run the command again to start over"
    return (
        f"to start over, run the command again with another hydra.run.dir (this one, "
        f"{shlex.quote(str(run_dir))}, keeps files of this run), or once that folder is removed"
    )
