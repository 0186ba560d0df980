"""Command-line runs of src/train.py and src/eval.py in tests: a tiny synthetic store and
settings that make a run take seconds on a CPU."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY_STORE = dict(
    n_items=300, n_query=40, n_train=160, n_val=40, image_dim=32, text_dim=24, n_classes=5
)
# tiny networks, no rich output, no prompt
TINY_ARGS = [
    *(f"data.synthetic.{key}={value}" for key, value in TINY_STORE.items()),
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
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
