"""Every option of every config group composes, resolves and names importable targets."""

import tempfile
from pathlib import Path
from typing import Any, Iterator

import hydra
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from src.data.synthetic import store_file

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
COMPOSE_RUN_DIR = Path(tempfile.gettempdir(), "agch-test-configs")


def options(group: str) -> list[str]:
    """The option names of a config group (its yaml files)."""
    return sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))


def compose_cfg(name: str, overrides: list[str]) -> DictConfig:
    """Compose like a real run: Hydra's config included, output_dir set to the run dir."""
    GlobalHydra.instance().clear()
    # a literal run dir: resolving the default one claims a new folder (src/utils/run_dirs.py)
    overrides = [f"hydra.run.dir={COMPOSE_RUN_DIR}", *overrides]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = cfg.hydra.run.dir
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg


def targets(node: Any) -> Iterator[str]:
    """Every `_target_` in a config tree."""
    if isinstance(node, DictConfig):
        for key, value in node.items():
            if key == "_target_":
                yield value
            else:
                yield from targets(value)
    elif isinstance(node, ListConfig):
        for value in node:
            yield from targets(value)


def check_resolves(cfg: DictConfig) -> dict:
    """Resolve everything but Hydra's own config and import every target."""
    plain = {
        k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig) else v
        for k, v in cfg.items()
        if k != "hydra"
    }
    for target in targets(OmegaConf.create(plain)):
        assert hydra.utils.get_object(target) is not None, target
    return plain


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


@pytest.mark.parametrize("task, extra", [("train", []), ("eval", ["ckpt_path=x.ckpt"])])
def test_default_output_dir_under_logs(task: str, extra: list[str]) -> None:
    cfg = compose_cfg(f"{task}.yaml", extra)
    check_resolves(cfg)
    assert Path(cfg.paths.output_dir) == COMPOSE_RUN_DIR  # hydra.run.dir, as Hydra sets it
    # the default hydra.run.dir (overridden here): a new folder of logs/<task>/runs
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        default = compose(f"{task}.yaml", extra, return_hydra_config=True)
    run_dir = OmegaConf.to_container(default.hydra.run)["dir"]
    assert run_dir.startswith("${unique_dir:${paths.log_dir},${task_name}/runs/${now:")
    assert Path(default.paths.log_dir) == ROOT / "logs" and cfg.task_name == task


def test_train_defaults() -> None:
    cfg = compose_cfg("train.yaml", [])
    assert cfg.seed == 0 and cfg.train and cfg.test and cfg.ckpt_path is None
    assert cfg.optimized_metric == "val/map@50"
    checkpoint = cfg.callbacks.model_checkpoint
    assert (
        checkpoint.monitor == "val/objective" and checkpoint.mode == "max" and checkpoint.save_last
    )
    assert Path(checkpoint.dirpath) == Path(cfg.paths.output_dir) / "checkpoints"


def test_eval_requires_checkpoint() -> None:
    cfg = compose_cfg("eval.yaml", [])
    assert OmegaConf.is_missing(cfg, "ckpt_path")
    assert not cfg.export_codes


@pytest.mark.parametrize("option", options("data"))
def test_data_options(option: str) -> None:
    cfg = compose_cfg("train.yaml", [f"data={option}"])
    plain = check_resolves(cfg)
    if option == "synthetic":  # its own file per set of generator parameters
        expected = store_file(str(ROOT / "data"), plain["data"]["synthetic"])
    else:
        expected = str(ROOT / "data" / f"{option}.h5")
    assert plain["data"]["path"] == expected
    if option != "synthetic":
        assert plain["data"]["synthetic"] is None
        assert f"prepare_data.py {option}" in plain["data"]["prepare_hint"]
    hydra.utils.instantiate(cfg.data)  # the constructor checks its arguments; reads no file


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(option: str) -> None:
    cfg = compose_cfg("train.yaml", [f"trainer={option}"])
    plain = check_resolves(cfg)["trainer"]
    # manual optimisation raises on these: they must never be set in the Trainer
    assert "gradient_clip_val" not in plain and "accumulate_grad_batches" not in plain
    if plain.get("accelerator") in ("cpu", "auto") and option != "ddp_sim":
        trainer = hydra.utils.instantiate(cfg.trainer, accelerator="cpu")
        assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(option: str, tmp_path: Path) -> None:
    cfg = compose_cfg("train.yaml", [f"logger={option}", f"hydra.run.dir={tmp_path}"])
    check_resolves(cfg)
    from src.utils import instantiate_loggers

    loggers = instantiate_loggers(cfg.get("logger"))
    assert len(loggers) == {"none": 0, "many_loggers": 2}.get(option, 1)


@pytest.mark.parametrize("option", options("callbacks"))
def test_callback_options(option: str, tmp_path: Path) -> None:
    cfg = compose_cfg("train.yaml", [f"callbacks={option}", f"hydra.run.dir={tmp_path}"])
    check_resolves(cfg)
    from src.utils import instantiate_callbacks

    assert len(instantiate_callbacks(cfg.get("callbacks"))) == len(cfg.get("callbacks") or {})


@pytest.mark.parametrize("option", options("debug"))
def test_debug_options(option: str) -> None:
    cfg = compose_cfg("train.yaml", [f"debug={option}"])
    check_resolves(cfg)
    assert cfg.task_name == "debug" and cfg.trainer.accelerator == "cpu"
