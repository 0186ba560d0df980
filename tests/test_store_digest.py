"""A checkpoint records the content digest of the store it trained on; eval.py and a resume
refuse a store whose content changed since in one line naming data.path and both digests,
unless ``eval_other_store=true`` (eval.py) says so; a checkpoint without the record evaluates
with one notice line (ninth trial: a store's features edited after training evaluated
silently). Generated cases: a feature value of each modality changed, a row scaled, a label
flipped, each applied to a copy of the store the run trained on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import h5py
import pytest

from cli_runs import start
from test_checkpoint_records import edited, trained  # noqa: F401  (the fixture)
from test_run_lifecycle import finish

from src.utils.store_digest import STORE_KEY, store_digest


def _cell(name: str, row: int, how: Any) -> Any:
    def edit(store: h5py.File) -> None:
        values = store[name][row]
        store[name][row] = how(values)

    return edit


EDITS = {
    "image value": _cell("image", 0, lambda v: v + 1.0),
    "text value": _cell("text", 3, lambda v: v * 2.0 + 0.5),
    "image row scaled": _cell("image", 7, lambda v: v * 50.0),
    "label flipped": _cell("label", 1, lambda v: 1 - v if v.ndim else (v + 1) % 2),
}


def store_copy(trained: dict[str, Any], folder: Path, edit: Any) -> Path:  # noqa: F811
    """A copy of the run's store with ``edit`` applied."""
    source = next(w.split("=", 1)[1] for w in trained["words"] if w.startswith("data.path="))
    copy = folder / "store.h5"
    shutil.copyfile(source, copy)
    with h5py.File(copy, "r+") as store:
        edit(store)
    return copy


def run_eval(  # noqa: F811
    trained: dict[str, Any], ckpt: Path, store: Path, folder: Path, *more: str  # noqa: F811
) -> tuple[int, str, str]:
    """(status, stdout, stderr) of src/eval.py on ``store``."""
    words = [w for w in trained["words"] if not w.startswith(("model.", "data.path="))]
    words += [f"ckpt_path={ckpt}", f"data.path={store}", f"hydra.run.dir={folder / 'eval'}"]
    return finish(start("eval.py", [*words, *more], folder))


def test_the_checkpoint_records_the_stores_digest(trained: dict[str, Any]) -> None:  # noqa
    source = next(w.split("=", 1)[1] for w in trained["words"] if w.startswith("data.path="))
    assert trained["checkpoint"][STORE_KEY] == store_digest(source)


@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_edited_store_is_refused_then_evaluated_on_purpose(
    trained: dict[str, Any], case: str, tmp_path: Path  # noqa: F811
) -> None:
    """One line naming the store [data.path] and both digests; eval_other_store=true runs."""
    ckpt = edited(trained, lambda c: None, tmp_path)
    store = store_copy(trained, tmp_path, EDITS[case])
    status, out, err = run_eval(trained, ckpt, store, tmp_path)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    line = err.strip()
    assert line.startswith(f"error: {store} [data.path]:"), line
    assert trained["checkpoint"][STORE_KEY][:16] in line and store_digest(store)[:16] in line
    assert not (tmp_path / "eval" / "results.json").exists()
    if case == "image value":
        status, out, err = run_eval(trained, ckpt, store, tmp_path, "eval_other_store=true")
        assert status == 0, err


def test_a_resume_on_an_edited_store_is_refused(
    trained: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    ckpt = edited(trained, lambda c: None, tmp_path)
    store = store_copy(trained, tmp_path, EDITS["text value"])
    words = [w for w in trained["words"] if not w.startswith("data.path=")]
    words += [f"data.path={store}", "trainer.max_epochs=2", f"ckpt_path={ckpt}"]
    status, out, err = finish(
        start("train.py", [*words, f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    )
    assert status == 2 and err.strip().startswith(f"error: {store} [data.path]:"), err


def test_a_checkpoint_without_the_record_evaluates_with_a_notice(
    trained: dict[str, Any], tmp_path: Path  # noqa: F811
) -> None:
    ckpt = edited(trained, lambda c: c.pop(STORE_KEY), tmp_path)
    source = next(w.split("=", 1)[1] for w in trained["words"] if w.startswith("data.path="))
    status, out, err = run_eval(trained, ckpt, Path(source), tmp_path)
    assert status == 0, err
    notices = [x for x in err.splitlines() if x.startswith("notice:")]
    assert len(notices) == 1 and STORE_KEY in notices[0], err
