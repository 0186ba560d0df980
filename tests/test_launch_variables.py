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

import os
import subprocess
import sys
from pathlib import Path

import pytest

from src.utils.machine_checks import LAUNCH_MARK, LAUNCH_VARIABLES, run_launch
from test_node_settings import door_line

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("default", "cpu", "ddp_sim")
CLEAN = (*LAUNCH_VARIABLES, LAUNCH_MARK, "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a plain shell: no launcher's variable, no SLURM job."""
    for name in [*CLEAN, *(n for n in os.environ if n.startswith(("SLURM_", "LSB_")))]:
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
