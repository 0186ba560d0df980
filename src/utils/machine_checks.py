"""Checks of the machine a run asks for, made at the door before any run folder: a trainer
preset this machine cannot run (a GPU accelerator without a GPU, "mps" without an Apple GPU,
float16 on a CPU) and several processes without the project's DDP setup. Each refusal is one
``ConfigError``. Split from src/utils/run_checks.py, which re-exports them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


# the variables through which a launcher tells a process its place in a distributed run; set
# by hand, without a launcher, they make Lightning wait for processes that this command never
# starts (trial 11 G2: NODE_RANK=1, WORLD_SIZE=2 RANK=0 MASTER_ADDR=...) or make this process a
# rank other than zero, whose TensorBoard logs and config tree are never written
LAUNCH_VARIABLES = (
    "LOCAL_RANK",
    "RANK",
    "NODE_RANK",
    "GROUP_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
)
# the variables Lightning's own launcher (trainer=ddp_sim, trainer=ddp) sets in this process
LIGHTNING_SETS = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# the process id of the run that lets Lightning start its other processes (`run_launch`)
LAUNCH_MARK = "AGCH_LAUNCHING_PID"


def started_by_this_run() -> bool:
    """Whether Lightning's launcher started this process for a run (its parent holds the
    mark, `run_launch`): its LOCAL_RANK and kin are the launcher's, not the user's."""
    import os

    return os.environ.get(LAUNCH_MARK) == str(os.getppid())


@contextmanager
def run_launch() -> Iterator[None]:
    """Around one job: mark this process as the run whose launcher may start processes (they
    inherit the mark, `started_by_this_run`), then put back the variables Lightning's launcher
    set here (LIGHTNING_SETS) and the mark, so that the next job's door (a sweep) checks the
    environment the user gave, not the one the launcher left."""
    import os

    saved = {name: os.environ.get(name) for name in (*LIGHTNING_SETS, LAUNCH_MARK)}
    if "LOCAL_RANK" not in os.environ:  # a process Lightning started keeps its parent's mark
        os.environ[LAUNCH_MARK] = str(os.getpid())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_launch_variables() -> None:
    """Refuse a launcher's variables (LAUNCH_VARIABLES) set without a launcher: no cluster
    environment is detected and this process is not one a run started. Raises ConfigError."""
    import os

    from src.utils.cluster_checks import unset_words

    if cluster_environment() is not None or started_by_this_run():
        return
    for name in LAUNCH_VARIABLES:
        if name in os.environ:
            raise ConfigError(
                f"{name}: set to {os.environ[name]!r} in the environment, and no launcher "
                "(SLURM, torchrun, LSF, or this project's trainer=ddp_sim / trainer=ddp) started "
                "this process: Lightning would wait for processes this command never starts, or "
                "run it as a rank other than zero, which writes no logs; expected it unset "
                f"({unset_words()}); processes on this machine are set by trainer.devices"
            )


def check_cluster(trainer: DictConfig) -> None:
    """Refuse settings that the detected cluster environment rejects (Lightning's own check,
    made at the Trainer's creation after the run folder exists: SLURM's --ntasks without
    --ntasks-per-node, devices or nodes other than the job's; an LSF rankfile without this
    host, `lsf_problem`) and a torchrun environment that is not believed
    (`check_torchelastic`, src/utils/cluster_checks.py). Raises ConfigError."""
    import lightning.fabric.plugins.environments as environments

    from src.utils.cluster_checks import check_torchelastic, lsf_problem

    name = cluster_environment()
    if name is None:
        return
    if name == "TorchElastic":  # believed only when it fits the trainer and its processes run
        check_torchelastic(trainer)
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    try:
        environment = getattr(environments, f"{name}Environment")()
        if isinstance(devices, int) and isinstance(nodes, int):
            environment.validate_settings(num_devices=devices, num_nodes=nodes)
    except (RuntimeError, ValueError, KeyError, IndexError, OSError) as exc:
        problem = lsf_problem(exc) if name == "LSF" else None
        if problem is not None:
            raise ConfigError(problem) from exc
        raise ConfigError(
            f"trainer.devices: the {name} job's environment does not fit this run (Lightning: "
            f"{' '.join(str(exc).split())}); expected the job's tasks per node and nodes as "
            "trainer.devices and trainer.num_nodes"
        ) from exc


def check_nodes(trainer: DictConfig) -> None:
    """Refuse a run that would wait for processes this launch never starts: a launcher's
    variables set by hand (`check_launch_variables`), settings the cluster environment rejects
    (`check_cluster`), and more than one node (``trainer.num_nodes``, or ``num_nodes`` of the
    strategy) without a cluster environment. Raises ConfigError."""
    check_launch_variables()
    check_cluster(trainer)
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


def typed(key: str, value: object) -> str:
    """The override setting ``key`` to ``value`` as it is typed on this command line: with
    ``+`` when the configuration composed from its group choices has no such key
    (`src.utils.composed_keys.setting_form`), else plain."""
    from src.utils.commands import task_overrides
    from src.utils.composed_keys import setting_form

    form = setting_form(key, task_overrides())
    return f"{'+' if form == '+' else ''}{key}={value}"
