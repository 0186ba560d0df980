"""Checks of the machine a run asks for, made at the door before any run folder: a trainer
preset this machine cannot run (a GPU accelerator without a GPU, "mps" without an Apple GPU,
float16 on a CPU) and several processes without the project's DDP setup. Each refusal is one
``ConfigError``. Split from src/utils/run_checks.py, which re-exports them."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from src.utils.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda")


def world_size(trainer: DictConfig) -> int:
    """Processes the trainer config starts (devices x nodes; 1 for "auto")."""
    devices = trainer.get("devices", 1)
    return (devices if isinstance(devices, int) and devices > 0 else 1) * trainer.get(
        "num_nodes", 1
    )


def check_machine(trainer: DictConfig) -> None:
    """Refuse a trainer preset this machine cannot run: a GPU accelerator (trainer=gpu/ddp)
    without a visible CUDA GPU, "mps" without an Apple GPU, more GPUs than there are, float16
    mixed precision on a CPU."""
    accelerator = str(trainer.get("accelerator", "auto"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = trainer.get("devices", 1)
    if accelerator in GPU_ACCELERATORS and gpus == 0:
        raise ConfigError(
            f"trainer.accelerator: {accelerator!r} needs a CUDA GPU and none is visible here; "
            "use trainer=cpu (or trainer=ddp_sim for several CPU processes)"
        )
    if accelerator in GPU_ACCELERATORS and isinstance(devices, int) and devices > gpus:
        raise ConfigError(
            f"trainer.devices: {devices} GPUs asked for, {gpus} visible here; expected at most "
            f"{gpus}"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator: 'mps' needs an Apple GPU (Metal) and none is available "
            "here; use trainer=cpu"
        )
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and gpus == 0)
    check_processes(trainer, on_cpu)
    if on_cpu and str(trainer.get("precision")) in ("16", "16-mixed", "16-true"):
        raise ConfigError(
            f"trainer.precision: {trainer.precision!r} needs a GPU; on a CPU use 32-true or "
            "bf16-mixed"
        )


def check_processes(trainer: DictConfig, on_cpu: bool) -> None:
    """Refuse several processes (``devices`` > 1, ``num_nodes`` > 1) without the project's
    DDP setup, and ``devices=-1`` (every GPU) on a CPU. That setup (trainer=ddp_sim,
    trainer=ddp): the methods' alternating phases leave modules out of a loss, which DDP must
    be told (find_unused_parameters), and each process reads its own shard
    (use_distributed_sampler=false). Trial 8 C12: trainer.devices=2 on a CPU was a 286-line
    DDP traceback. Raises ConfigError."""
    devices = trainer.get("devices", 1)
    check_nodes(trainer)
    if on_cpu and devices == -1:
        raise ConfigError(
            "trainer.devices: -1 (every GPU) on a CPU; expected a number of "
            "processes >= 1 (trainer=ddp_sim runs 2)"
        )
    if world_size(trainer) == 1:
        return
    strategy = trainer.get("strategy", "auto")
    unused = strategy == "ddp_find_unused_parameters_true" or (
        isinstance(strategy, DictConfig) and strategy.get("find_unused_parameters") is True
    )
    if not unused or trainer.get("use_distributed_sampler", True):
        # the key that made several processes is named (trial 9: trainer.num_nodes=2 was
        # refused under trainer.devices, "trainer.devices=1" twice)
        key, count = (
            ("trainer.num_nodes", trainer.get("num_nodes", 1))
            if trainer.get("num_nodes", 1) > 1
            else ("trainer.devices", devices)
        )
        raise ConfigError(
            f"{key}: {world_size(trainer)} processes need the project's DDP setup "
            "(a DDP strategy with find_unused_parameters, use_distributed_sampler=false); "
            f"expected trainer=ddp_sim (CPU) or trainer=ddp (GPUs) with {typed(key, count)}, "
            f"or {typed(key, 1)}"
        )


# what Lightning would do with these settings and no launcher: wait for processes that this
# command never starts (trial 10 F2: +trainer.num_nodes=2 waited forever for a second node)
CLUSTERS = ("SLURMEnvironment", "TorchElasticEnvironment", "LSFEnvironment")


def cluster_environment() -> str | None:
    """The cluster environment Lightning detects (a launcher that starts the other nodes'
    processes: SLURM's srun, torchrun, LSF; Kubeflow is never detected), or None."""
    import lightning.fabric.plugins.environments as environments

    for name in CLUSTERS:
        if getattr(environments, name).detect():
            return name.removesuffix("Environment")
    return None


def check_nodes(trainer: DictConfig) -> None:
    """Refuse a run that would wait for processes this launch never starts: more than one
    node (``trainer.num_nodes``, or ``num_nodes`` of the strategy) without a cluster
    environment, and several processes while ``LOCAL_RANK`` is set without one (Lightning then
    starts none itself and waits for the others). Raises ConfigError."""
    import os

    if cluster_environment() is not None:
        return
    strategy = trainer.get("strategy")
    given = [("trainer.num_nodes", trainer.get("num_nodes", 1))]
    if isinstance(strategy, DictConfig):
        given.append(("trainer.strategy.num_nodes", strategy.get("num_nodes", 1)))
    for key, nodes in given:
        if isinstance(nodes, int) and nodes > 1:
            raise ConfigError(
                f"{key}: {nodes} nodes, and no cluster launcher (SLURM, torchrun, LSF) "
                "starts the other nodes' processes, so the run would wait for them forever; "
                f"expected {typed(key, 1)}; processes on this machine are set by trainer.devices"
            )
    if world_size(trainer) > 1 and "LOCAL_RANK" in os.environ:
        raise ConfigError(
            f"trainer.devices: {world_size(trainer)} processes while LOCAL_RANK="
            f"{os.environ['LOCAL_RANK']} is set without a launcher: Lightning would start none "
            "and wait for the others forever; expected LOCAL_RANK unset (env -u LOCAL_RANK), "
            f"or {typed('trainer.devices', 1)}"
        )


def typed(key: str, value: object) -> str:
    """The override setting ``key`` to ``value`` as it is typed on this command line: with
    ``+`` when the configuration composed from its group choices has no such key
    (`src.utils.composed_keys.setting_form`), else plain."""
    from src.utils.commands import task_overrides
    from src.utils.composed_keys import setting_form

    form = setting_form(key, task_overrides())
    return f"{'+' if form == '+' else ''}{key}={value}"
