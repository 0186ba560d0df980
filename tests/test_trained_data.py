"""A checkpoint given other data than it was trained on is told so in one step (issue 22,
eleventh trial: eval.py with a synthetic checkpoint and a UCI store advised ``data=uci``,
which then ended in a feature-dimension refusal). Generated pairs (trained on, given) judged
by a table written out here, then the trial's commands and the advice typed."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from cli_runs import TINY_ARGS, start
from conftest import TINY_SYNTHETIC
from door import composed_run
from test_run_lifecycle import finish, one_error_line

from src.data.store import write_store
from src.data.synthetic import make_synthetic
from src.utils.errors import ConfigError
from src.utils.trained_data import check_trained_data

N = 40
SYNTHETIC = {"n_items": 60, "seed": 0}  # a generator setting as run_settings records it
# what a checkpoint was trained on / what a run is given: a dataset name, "synthetic",
# "unrecorded" (a checkpoint without run settings), "gone" (its store file since deleted)
TRAINED = ["synthetic", "uci", "wiki", "myset", "unrecorded", "gone"]
GIVEN = ["synthetic", "synthetic-file", "synthetic+uci", "uci", "wiki", "myset"]


def _store(path: Path, dataset: str, n: int = N) -> Path:
    """An ``n``-item store whose ``dataset`` attribute is ``dataset``."""
    gen = np.random.default_rng(0)
    label = np.eye(4, dtype=np.uint8)[np.arange(n) % 4]  # (n, 4)
    splits = {"query": np.arange(10), "train": np.arange(10, n), "retrieval": np.arange(10, n)}
    write_store(path, gen.random((n, 6)), gen.random((n, 3)), label, splits, {"dataset": dataset})
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stores")
    made = {name: _store(root / f"{name}.h5", name) for name in ("uci", "wiki", "myset")}
    made["synthetic-file"] = root / "synthetic_x.h5"
    make_synthetic(made["synthetic-file"], **TINY_SYNTHETIC)
    made["gone"] = root / "gone.h5"  # never written
    return made


def checkpoint(trained: str, stores: dict[str, Path]) -> dict[str, Any]:
    """The records a checkpoint of train.py keeps of its data."""
    if trained == "unrecorded":
        return {"datamodule_hyper_parameters": {"path": str(stores["uci"])}}
    synthetic = SYNTHETIC if trained == "synthetic" else None
    path = stores["synthetic-file"] if trained == "synthetic" else stores[trained]
    return {
        "run_settings": {"seed": 0, "data.synthetic": synthetic},
        "datamodule_hyper_parameters": {"path": str(path)},
    }


def config(given: str, stores: dict[str, Path], other: bool) -> Any:
    synthetic = SYNTHETIC if given.startswith("synthetic") else None
    path = {"synthetic": "/nonexistent/synthetic_new.h5", "synthetic+uci": stores["uci"]}.get(
        given, stores.get(given)
    )
    data = {"path": str(path), "synthetic": synthetic}
    return OmegaConf.create({"data": data, "eval_other_store": other, "ckpt_path": "x.ckpt"})


def expected_refusal(trained: str, given: str, other: bool) -> bool:
    """The table: a synthetic checkpoint needs a synthetic config reading a synthetic store; a
    real one a real config (a synthetic config naming a UCI store included: refused) reading
    a store of its own dataset, unless eval_other_store; nothing known, nothing refused."""
    synthetic_config = given.startswith("synthetic")
    if trained == "unrecorded":
        return False
    if trained == "synthetic":
        return given not in ("synthetic", "synthetic-file")
    if synthetic_config:
        return True
    return trained != "gone" and given != trained and not other


def test_refused_exactly_when_the_data_differs(stores: dict[str, Path]) -> None:
    """6 x 6 x 2 generated pairs: refused iff the recorded data and the given data differ
    (synthetic against real either way; two real stores of other datasets unless
    eval_other_store); never for a checkpoint that records nothing or whose store is gone
    (nothing known to compare). The line names what it was trained on and the data= to give."""
    for trained, given, other in itertools.product(TRAINED, GIVEN, (False, True)):
        refuse = expected_refusal(trained, given, other)
        case = (trained, given, other)
        try:
            check_trained_data(config(given, stores, other), checkpoint(trained, stores), "x.ckpt")
        except ConfigError as error:
            text = str(error)
            assert refuse, (case, text)
            assert text.startswith("ckpt_path: x.ckpt: trained on "), (case, text)
            advice = "data=synthetic" if trained == "synthetic" else None
            advice = advice or {"uci": "data=uci", "wiki": "data=wiki"}.get(trained)
            assert advice is None or f"expected {advice}" in text, (case, text)
            assert "\n" not in text
            continue
        assert not refuse, case


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One-epoch runs of src/train.py's `train`: on a tiny synthetic store and on a tiny store
    of 'uci' (data=uci); their last.ckpt files."""
    from src.train import train

    root = tmp_path_factory.mktemp("trained")
    uci = _store(root / "uci.h5", "uci", n=120)
    words = [*TINY_ARGS, "model.eval_ks=[1]", "logger=none", "trainer.max_epochs=1"]
    found = {"uci_store": uci}
    for name, data in (("synthetic", [f"data.path={root / 'syn.h5'}"]), ("uci", ["data=uci"])):
        data = data if name == "synthetic" else [*data, f"data.path={uci}"]
        chosen = [w for w in words if name == "synthetic" or not w.startswith("data.synthetic")]
        train(composed_run([*chosen, *data], output_dir=str(root / name)))
        found[name] = root / name / "checkpoints" / "last.ckpt"
    return found


def test_the_trial_commands_get_the_data_in_one_step(runs: dict[str, Path], tmp_path) -> None:
    """eval.py with the synthetic checkpoint and the UCI store (as data.path: the store's own
    refusal at the door; as data=uci: eval.py's), and with the UCI checkpoint and the default
    data: one line naming what it was trained on; the advice typed (data=uci) evaluates it."""
    tiny = [w for w in TINY_ARGS if not w.startswith(("data.synthetic", "model."))]
    cases = [
        (runs["synthetic"], [f"data.path={runs['uci_store']}"], "trained on synthetic data"),
        (runs["synthetic"], ["data=uci", f"data.path={runs['uci_store']}"], "expected data=syn"),
        (runs["uci"], [], "trained on the 'uci' store"),
    ]
    for number, (ckpt, words, said) in enumerate(cases):
        out = tmp_path / f"e{number}"
        args = [*tiny, *words, f"ckpt_path={ckpt}", f"hydra.run.dir={out}"]
        code, stdout, err = finish(start("eval.py", args, tmp_path))
        line = one_error_line(err, stdout)
        assert code == 2 and said in line, line
        assert not out.exists()
    advice = ["data=uci", f"data.path={runs['uci_store']}", f"ckpt_path={runs['uci']}"]
    out = tmp_path / "followed"
    code, stdout, err = finish(
        start("eval.py", [*tiny, *advice, f"hydra.run.dir={out}"], tmp_path)
    )
    assert code == 0, err
    assert (out / "results.json").is_file()
