"""A launcher's variables set by hand, and the processes Lightning starts itself (trial 11).

G1: the refusal of LOCAL_RANK without a launcher also refused the second process that
Lightning starts for ``trainer=ddp_sim`` (it sets LOCAL_RANK=1), so ``trainer=ddp_sim`` never
ran. G2: NODE_RANK, WORLD_SIZE/RANK/MASTER_ADDR set by hand waited forever for processes this
command never starts; RANK=1 or LOCAL_RANK=1 alone ran a process as a rank other than zero,
which wrote no TensorBoard logs nor config tree and reported "completed"; SLURM's variables
gave a 93-line traceback at the Trainer's creation, after the run folder existed. Generated:
every launcher variable x value x trainer preset at the door; a process started with the
run's mark passes; SLURM environments Lightning rejects; a two-process run end to end.
"""

import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from src.utils.cluster_checks import TORCHRUN_SETS
from src.utils.machine_checks import LAUNCH_MARK, LAUNCH_VARIABLES, run_launch
from test_node_settings import door_line

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("default", "cpu", "ddp_sim")
CLEAN = (*LAUNCH_VARIABLES, LAUNCH_MARK, "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a plain shell: no launcher's variable, no SLURM job."""
    prefixes = ("SLURM_", "LSB_", "JSM_", "TORCHELASTIC_", "ROLE_")
    for name in [*CLEAN, *(n for n in os.environ if n.startswith(prefixes))]:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("value", ["0", "1", "2"])
@pytest.mark.parametrize("name", LAUNCH_VARIABLES)
def test_a_launcher_variable_set_by_hand_is_refused(
    name: str, value: str, preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming the variable and how to run without it, whatever its value."""
    monkeypatch.setenv(name, value)
    line = door_line([f"trainer={preset}"])
    assert line is not None and line.startswith(f"error: {name}: set to '{value}'"), line
    assert f"env -u {name} python" in line


@pytest.mark.parametrize("preset", PRESETS)
def test_the_plain_environment_passes(preset: str) -> None:
    assert door_line([f"trainer={preset}"]) is None


@pytest.mark.parametrize("mark", ["parent", "self", "other"])
def test_a_process_the_run_started_passes(mark: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """LOCAL_RANK=1 passes in a process whose parent marked it (Lightning's launcher inside
    `run_launch`), not under a mark of this process or of another."""
    pid = {"parent": os.getppid(), "self": os.getpid(), "other": 1}[mark]
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCH_MARK, str(pid))
    line = door_line(["trainer=ddp_sim"])
    assert (line is None) == (mark == "parent"), line


def test_run_launch_marks_and_puts_the_environment_back() -> None:
    """Inside a job the mark is this process; afterwards what the launcher set is gone."""
    with run_launch():
        assert os.environ[LAUNCH_MARK] == str(os.getpid())
        os.environ.update(LOCAL_RANK="0", NODE_RANK="0", WORLD_SIZE="2", MASTER_PORT="1")
    assert not {*CLEAN} & set(os.environ)


SLURM = {"SLURM_JOB_NAME": "train", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
SLURM |= {"SLURM_NODEID": "0", "SLURM_JOB_ID": "1"}


@pytest.mark.parametrize(
    "job,words",
    [
        ({"SLURM_NTASKS": "2"}, ["trainer=ddp_sim"]),  # --ntasks without --ntasks-per-node
        ({"SLURM_NTASKS": "4"}, ["trainer=cpu"]),
        ({"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2"}, ["trainer=cpu"]),  # devices 1
        ({"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "1"}, ["trainer=ddp_sim"]),
        ({"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "2"},
         ["trainer=ddp_sim"]),  # fmt: skip
    ],
)
def test_a_slurm_job_lightning_rejects_is_one_line(
    job: dict, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lightning's own refusal, at the door instead of a traceback after the run folder."""
    for name, value in (SLURM | job).items():
        monkeypatch.setenv(name, value)
    line = door_line(words)
    assert line is not None and "SLURM job's environment does not fit" in line, line


def test_ddp_sim_runs_two_processes_to_the_end(tmp_path: Path) -> None:
    """trainer=ddp_sim from a shell without a launcher: both processes train, one run folder
    with its logs, status completed (G1: the second process was refused, exit 137)."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN} | {"OMP_NUM_THREADS": "1"}
    words = ["trainer=ddp_sim", "data=synthetic", "trainer.max_epochs=1", "logger=csv"]
    words += ["model.hidden_dim=32", "model.gcn_dim=16", f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run(
        [sys.executable, "src/train.py", *words, "extras.print_config=false"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"status": "completed"' in (tmp_path / "run" / "results.json").read_text()
    assert "MEMBER: 2/2" in done.stderr + done.stdout


# trial 12 H3: torchrun's variables set by hand (TORCHELASTIC_RUN_ID makes Lightning see torchrun)
TORCHRUN = {"TORCHELASTIC_RUN_ID": "x", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"}
TORCHRUN |= {"ROLE_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29601"}
DEVICES = {"default": 1, "cpu": 1, "ddp_sim": 2}


def followed(line: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Unset what the line's ``env -u A -u B python ...`` names; the names."""
    words = line.split("env -u ", 1)[1].split(" python", 1)[0].split(" -u ")
    for name in words:
        monkeypatch.delenv(name, raising=False)
    return words


def torchrun_cases() -> list[tuple[str, dict, str | None]]:
    """(preset, variables, the variable the line names or None: passes) generated: sizes x
    presets, each torchrun variable missing or not a number, a rank outside its size."""
    cases = []
    for preset, (world, local) in itertools.product(DEVICES, [(1, 1), (2, 2), (2, 1), (4, 2)]):
        sizes = {"WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(local)}
        fits = (world, local) == (DEVICES[preset], DEVICES[preset])
        named = None if fits and local == 1 else "LOCAL_WORLD_SIZE" if fits else "WORLD_SIZE"
        cases.append((preset, TORCHRUN | sizes, named))
    full = TORCHRUN | {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    for name in TORCHRUN_SETS:
        cases.append(("ddp_sim", {k: v for k, v in full.items() if k != name}, name))
        if name != "MASTER_ADDR":
            cases.append(("ddp_sim", full | {name: "two"}, name))
    cases.append(("ddp_sim", full | {"RANK": "2"}, "RANK"))
    cases.append(("ddp_sim", full | {"LOCAL_RANK": "5"}, "LOCAL_RANK"))
    return cases


@pytest.mark.parametrize("preset,variables,named", torchrun_cases())
def test_torchrun_variables_are_believed_only_when_they_fit(
    preset: str, variables: dict, named: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line naming the variable when torchrun's variables do not fit the trainer or its
    processes are not running; unsetting what the line names then passes the door."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    line = door_line([f"trainer={preset}"])
    if named is None:
        assert line is None, line
        return
    assert line is not None and line.startswith(f"error: {named}: "), line
    assert "Lightning:" not in line, line
    assert "TORCHELASTIC_RUN_ID" in followed(line, monkeypatch), line
    assert door_line([f"trainer={preset}"]) is None, line


def test_torchrun_with_its_other_process_running_passes(monkeypatch) -> None:
    """The same variables pass while this machine's other process of the run (LOCAL_RANK 1,
    same TORCHELASTIC_RUN_ID) is running, as under torchrun."""
    full = TORCHRUN | {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "t12"}
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    other = subprocess.Popen(sleeper, env=os.environ | full | {"LOCAL_RANK": "1", "RANK": "1"})
    try:
        for name, value in full.items():
            monkeypatch.setenv(name, value)
        assert door_line(["trainer=ddp_sim"]) is None
    finally:
        other.kill()
        other.wait()
    line = door_line(["trainer=ddp_sim"])
    assert line is not None and line.startswith("error: LOCAL_WORLD_SIZE: "), line


@pytest.mark.parametrize("hosts", [["launch"], ["launch", "other"], [], ["launch", "HOST"], None])
def test_an_lsf_rankfile_without_this_host_names_it(
    hosts: list[str] | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rankfile without this host (trial 12: "(Lightning: 'vm')"), without compute hosts
    (an IndexError traceback) or missing is one line naming it, and unsetting what it names
    passes; a rankfile listing this host passes."""
    rankfile = tmp_path / "rankfile"
    if hosts is not None:
        names = [socket.gethostname() if h == "HOST" else h for h in hosts]
        rankfile.write_text("".join(f"{h}\n" for h in names))
    job = {"LSB_JOBID": "7", "LSB_DJOB_RANKFILE": str(rankfile)}
    job |= {"JSM_NAMESPACE_LOCAL_RANK": "0", "JSM_NAMESPACE_SIZE": "1", "JSM_NAMESPACE_RANK": "0"}
    for name, value in job.items():
        monkeypatch.setenv(name, value)
    line = door_line(["trainer=cpu"])
    if hosts == ["launch", "HOST"]:
        assert line is None, line
        return
    assert line is not None and line.startswith("error: LSB_DJOB_RANKFILE: "), line
    assert str(rankfile) in line and "Lightning:" not in line, line
    assert "LSB_JOBID" in followed(line, monkeypatch), line
    assert door_line(["trainer=cpu"]) is None, line
