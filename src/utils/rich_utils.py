"""Rich printing of the composed config, and the tag prompt."""

import sys
from pathlib import Path
from typing import Sequence

import rich
import rich.syntax
import rich.tree
from hydra.core.hydra_config import HydraConfig
from lightning_utilities.core.rank_zero import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from rich.prompt import Prompt

from src.utils.errors import ConfigError
from src.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

FIRST_FIELDS = ("data", "model", "callbacks", "logger", "trainer", "paths", "extras")


@rank_zero_only
def print_config_tree(
    cfg: DictConfig,
    print_order: Sequence[str] = FIRST_FIELDS,
    resolve: bool = False,
    save_to_file: bool = False,
) -> None:
    """Print the config as a rich tree (the main groups first) and optionally save it."""
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    queue = [field for field in print_order if field in cfg]
    queue += [field for field in cfg if field not in queue]
    for field in queue:
        branch = tree.add(field, style="dim", guide_style="dim")
        value = cfg[field]
        if isinstance(value, (DictConfig, ListConfig)):  # tags interpolate the code length
            text = OmegaConf.to_yaml(value, resolve=resolve)
        else:
            text = str(value)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
    if save_to_file:
        with open(Path(cfg.paths.output_dir, "config_tree.log"), "w") as file:
            rich.print(tree, file=file)


@rank_zero_only
def enforce_tags(cfg: DictConfig, save_to_file: bool = False) -> None:
    """Ask for tags on the terminal when none are set; outside a terminal or a sweep, skip."""
    if not cfg.get("tags"):
        if "id" in HydraConfig().cfg.hydra.job:
            raise ConfigError("tags: give tags before launching a multi-run (tags=[a,b])")
        if not _interactive():
            log.warning("No tags given and no terminal to ask for them; continuing without.")
            return
        log.warning("No tags provided in config. Prompting user to input tags...")
        tags = Prompt.ask("Enter a list of comma separated tags", default="dev")
        with open_dict(cfg):
            cfg.tags = [t.strip() for t in tags.split(",") if t.strip()]
        log.info(f"Tags: {cfg.tags}")
    if save_to_file:
        with open(Path(cfg.paths.output_dir, "tags.log"), "w") as file:
            rich.print(list(cfg.tags), file=file)  # resolved: tags may interpolate


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()
