"""A checkpoint holding an object torch's weights-only loader refuses (a numpy value, a path,
any class) is said to be that, not "a copy damaged in its directory" (trial 8, E_hp_numpy: a
re-signed checkpoint with hyper_parameters.lam = numpy.float64). Generated: each kind of
object in each place of a checkpoint; a truly damaged file keeps the damaged wording."""

from __future__ import annotations

import datetime
import decimal
import fractions
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch

from src.utils.checkpoints import read_checkpoint
from src.utils.errors import DataError

OBJECTS = {
    "np_float64": lambda: np.float64(10.0),
    "np_float32": lambda: np.float32(0.5),
    "np_int64": lambda: np.int64(3),
    "np_bool": lambda: np.bool_(True),
    "np_array": lambda: np.arange(3),
    "path": lambda: pathlib.Path("x"),
    "decimal": lambda: decimal.Decimal(1),
    "fraction": lambda: fractions.Fraction(1, 3),
    "date": lambda: datetime.date(2026, 1, 1),
}
PLACES = ("hyper_parameters", "run_settings", "top_level", "nested_list")


def write(path: Path, place: str, value: object) -> None:
    checkpoint: dict = {"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"lam": 1.0}}
    if place == "hyper_parameters":
        checkpoint["hyper_parameters"]["lam"] = value
    elif place == "run_settings":
        checkpoint["run_settings"] = {"seed": value}
    elif place == "top_level":
        checkpoint["extra"] = value
    else:
        checkpoint["hyper_parameters"]["eval_ks"] = [1, value]
    torch.save(checkpoint, path)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_foreign_object_named_not_damaged(tmp_path: Path, kind: str, place: str) -> None:
    path = tmp_path / "x.ckpt"
    write(path, place, OBJECTS[kind]())
    with pytest.raises(DataError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "it holds an object of" in message and "not a damaged one" in message, message
    assert "damaged in its directory" not in message and "\n" not in message


@pytest.mark.parametrize("size", [200, 400, 700])
def test_damaged_file_is_still_called_damaged(tmp_path: Path, size: int) -> None:
    """A truncated checkpoint is not said to hold a foreign object."""
    path = tmp_path / "x.ckpt"
    write(path, "top_level", 1.0)
    path.write_bytes(path.read_bytes()[:size])
    with pytest.raises(DataError) as info:
        read_checkpoint(path)
    assert "it holds an object of" not in str(info.value)
