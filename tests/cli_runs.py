"""Command-line runs of src/train.py and src/eval.py in tests: a tiny synthetic store and
settings that make a run take seconds on a CPU."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import TINY_DATA, TINY_DATA_PARAMS

ROOT = Path(__file__).resolve().parents[1]
TINY_STORE = TINY_DATA_PARAMS  # the generator arguments of the tiny store (tests/conftest.py)
# tiny networks, no rich output, no prompt
TINY_ARGS = [
    *TINY_DATA,
    "model.code_length=16",
    "model.hidden_dim=32",
    "model.gcn_dim=16",
    "trainer=cpu",
    "extras.print_config=false",
    "extras.enforce_tags=false",
]


def start(script: str, args: list[str], cwd: Path) -> subprocess.Popen:
    """Start `python src/<script> ARGS` single-threaded; stdout and stderr as text pipes."""
    command = [sys.executable, str(ROOT / "src" / script), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )


def _sigint_as_at_a_terminal() -> None:
    """Ctrl-C as a user's terminal delivers it: a suite started in the background (`cmd &`
    without job control, as CI may) ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
