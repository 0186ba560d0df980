"""A signal while the process waits for the other processes of a distributed run (trial 12
H3): torch's rendezvous is a C++ wait in which Python's handlers never run, so SIGTERM was
survived and only timeout's -k (SIGKILL) ended the run. Generated: SIGINT and SIGTERM, once
and in a burst, during a real TCPStore wait for a second process that never comes.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WAIT = """
import datetime, socket, sys
from pathlib import Path
import torch.distributed as dist
from src.utils.io import interrupts_raise
from src.utils.rendezvous import signals_end_wait
interrupts_raise()
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
print("READY", flush=True)
with signals_end_wait(lambda: Path(sys.argv[1]).write_text("cleaned")):
    dist.TCPStore("127.0.0.1", port, 2, True, datetime.timedelta(seconds=60))
print("RETURNED", flush=True)
"""


@pytest.mark.parametrize("signals", [["INT"], ["TERM"], ["TERM", "INT", "TERM"]])
def test_a_signal_ends_the_wait_with_one_line(signals: list[str], tmp_path: Path) -> None:
    mark = tmp_path / "cleaned"
    env = os.environ | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WAIT, str(mark)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    time.sleep(1.0)  # in the C++ wait
    started = time.monotonic()
    for name in signals:
        proc.send_signal(getattr(signal, f"SIG{name}"))
        time.sleep(0.03)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"SIG{signals[0]} did not end the wait")
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 5
    lines = err.splitlines()
    first = "Ctrl-C" if signals[0] == "INT" else "SIGTERM"
    assert lines == [
        f"error: interrupted ({first}) while waiting for the other processes of the distributed"
        " run (rendezvous at 127.0.0.1:29999); nothing was trained"
    ], err
    assert mark.read_text() == "cleaned" and "RETURNED" not in out
