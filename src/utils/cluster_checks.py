"""Whether a cluster launcher's environment is believed before Lightning waits on it (trial 12
H3), and the words of its refusals; called by `check_cluster` (src/utils/machine_checks.py).

Lightning takes any process with ``TORCHELASTIC_RUN_ID`` for one torchrun started: with
``WORLD_SIZE=2`` and the rest set by hand it waited forever for a second process nothing
starts (and survived SIGTERM); ``TORCHELASTIC_RUN_ID`` alone was "(Lightning: 'WORLD_SIZE')".
A torchrun environment is believed only when every variable torchrun sets is there and holds a
number that fits the others and the trainer (``WORLD_SIZE`` = devices x nodes,
``LOCAL_WORLD_SIZE`` = devices), and when this machine's processes of the run (`local_ranks`:
the processes whose environment holds the same ``TORCHELASTIC_RUN_ID``) are all running. Each
refusal names the variable and says how to run: under torchrun, or without its variables
(`unset_words`).
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from src.utils.errors import ConfigError

RUN_ID = "TORCHELASTIC_RUN_ID"
# what torchrun (torch.distributed.elastic's agent) sets in each process it starts
TORCHRUN_SETS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK")
TORCHRUN_SETS += ("MASTER_ADDR", "MASTER_PORT")
# the variables that make Lightning see a launcher, unset to run without one
UNSET = (RUN_ID, "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "WORLD_SIZE")
UNSET += ("LOCAL_WORLD_SIZE", "ROLE_RANK")
# the variables by which Lightning detects an LSF job (LSFEnvironment.detect)
LSF_DETECTED = ("LSB_JOBID", "LSB_DJOB_RANKFILE", "JSM_NAMESPACE_LOCAL_RANK", "JSM_NAMESPACE_SIZE")


def unset_words(names: tuple[str, ...] = UNSET) -> str:
    """``env -u A -u B python ...``: the command without those of ``names`` that are set."""
    flags = " ".join(f"-u {name}" for name in names if name in os.environ)
    return f"env {flags} python ..."


def torchrun_advice(devices: int = 0) -> str:
    """How to run: under torchrun, or without its variables (`unset_words`)."""
    under = f"torchrun --nproc-per-node={devices} src/train.py ..." if devices else "torchrun"
    return f"expected this command started by {under}, or without torchrun's variables: " + (
        unset_words()
    )


def numbers() -> dict[str, int]:
    """torchrun's variables (`TORCHRUN_SETS` but the address) as integers >= 0; ConfigError
    naming the first one missing or not such a number."""
    values = {}
    for name in TORCHRUN_SETS:
        if name not in os.environ:
            raise ConfigError(
                f"{name}: not set, and {RUN_ID}={os.environ[RUN_ID]!r} makes Lightning take "
                f"this process for one torchrun started, which sets it; {torchrun_advice()}"
            )
        text = os.environ[name]
        if name != "MASTER_ADDR":
            if not text.isdigit():
                raise ConfigError(
                    f"{name}: set to {text!r}, expected a number >= 0 as torchrun sets it; "
                    + torchrun_advice()
                )
            values[name] = int(text)
    return values


def local_ranks(run_id: str) -> set[int]:
    """The ``LOCAL_RANK`` of each running process on this machine whose environment holds
    ``TORCHELASTIC_RUN_ID=run_id`` (Linux's /proc; this process's own rank elsewhere)."""
    own = {int(os.environ["LOCAL_RANK"])}
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        return own
    marker = f"{RUN_ID}={run_id}".encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # ended, or another user's
            continue
        if marker in variables:
            rank = next((v[11:] for v in variables if v.startswith(b"LOCAL_RANK=")), b"")
            own |= {int(rank)} if rank.isdigit() else set()
    return own


def check_torchelastic(trainer: DictConfig) -> None:
    """Refuse a torchrun environment that is not believed (module docstring): a variable
    missing or not a number, ranks outside their sizes, sizes other than the trainer's, or
    this machine's processes of the run not all running. Raises ConfigError."""
    value = numbers()
    world, local = value["WORLD_SIZE"], value["LOCAL_WORLD_SIZE"]
    for rank, size in (("RANK", "WORLD_SIZE"), ("LOCAL_RANK", "LOCAL_WORLD_SIZE")):
        if not value[rank] < value[size]:
            raise ConfigError(
                f"{rank}: {value[rank]}, not below {size}={value[size]} as torchrun sets it; "
                + torchrun_advice()
            )
    from src.utils.machine_checks import typed

    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    if isinstance(devices, int) and isinstance(nodes, int):
        if (world, local) != (devices * nodes, devices) or world % local:
            raise ConfigError(
                f"WORLD_SIZE: {world} processes, {local} on this machine (LOCAL_WORLD_SIZE), "
                f"and the trainer runs {devices} x {nodes} (trainer.devices x trainer.num_nodes)"
                f"; expected them equal: under torchrun, trainer.devices={local} with "
                f"{typed('trainer.num_nodes', max(world // local, 1))}; if torchrun did not start "
                f"this command, without its variables: {unset_words()}"
            )
    running = local_ranks(os.environ[RUN_ID])
    if not set(range(local)) <= running:
        missing = sorted(set(range(local)) - running)
        raise ConfigError(
            f"LOCAL_WORLD_SIZE: {local} processes of torchrun run {os.environ[RUN_ID]!r} on "
            f"this machine, and none runs with LOCAL_RANK {', '.join(map(str, missing))}: no "
            "launcher started them, so Lightning would wait for them forever; "
            + torchrun_advice(local)
        )


def lsf_problem(exc: Exception) -> str | None:
    """What Lightning's LSF check raised, in words: the job's rankfile unreadable, without a
    compute host (IndexError), or without this host (its KeyError names the host name); None
    for another error."""
    import socket

    host, rankfile = socket.gethostname(), os.environ.get("LSB_DJOB_RANKFILE")
    if isinstance(exc, OSError):
        what = f"cannot be read ({exc.strerror or exc})"
    elif isinstance(exc, IndexError):
        what = "lists no compute host after its first line (the launch node)"
    elif isinstance(exc, KeyError) and exc.args == (host,):
        what = (
            f"does not list this machine ({host!r}) among the compute hosts after its first line"
        )
    else:
        return None
    return (
        f"LSB_DJOB_RANKFILE: the LSF job's rankfile {rankfile} {what}; expected this command "
        "started by LSF's jsrun on the job's hosts, or without the LSF job's variables: "
        + unset_words(LSF_DETECTED)
    )
