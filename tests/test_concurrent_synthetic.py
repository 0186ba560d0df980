"""Two runs generating the same new synthetic store at once (trial 8 K04): the second to
finish never replaces the store the first published (which that run may already read): it
keeps it, checks it and drops its own copy. Generated over parameter sets and over the
moment the other run publishes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import src.data.datamodule as datamodule
from src.data.datamodule import AGCHDataModule
from src.data.synthetic import make_synthetic

VARIANTS = [(seed, when) for seed in (0, 1, 2, 7) for when in ("before", "during", "after")]


@pytest.mark.parametrize("seed, when", VARIANTS)
def test_a_store_published_meanwhile_is_kept_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthetic_store_params: dict, seed, when
) -> None:
    params = synthetic_store_params | {"seed": seed}
    path = tmp_path / "data" / "synthetic_x.h5"
    path.parent.mkdir()
    real, published = datamodule.make_synthetic, []

    def publish() -> None:  # the other run's store, published under the same name
        make_synthetic(path, **params)
        published.append(os.stat(path).st_ino)

    def other_run_publishes(staged: Path, **kwargs) -> None:
        if when == "before":
            publish()
        real(staged, **kwargs)
        if when == "during":
            publish()

    def accept(sizes: dict[str, int]) -> None:
        if when == "after":
            publish()

    monkeypatch.setattr(datamodule, "make_synthetic", other_run_publishes)
    AGCHDataModule(str(path), synthetic=params).prepare_data(accept)
    first = os.stat(path)
    assert first.st_ino == published[0]  # the other run's store, not replaced
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    AGCHDataModule(str(path), synthetic=params).prepare_data()  # kept and accepted
    assert os.stat(path).st_ino == first.st_ino
