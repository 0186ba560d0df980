"""Checkpoints prove they are whole and finite, and fit the model, before any number comes out
of them (issue 22, kind 1): generated damage at many byte positions, NaN/Inf in generated
tensors, weights of another method or size."""

from pathlib import Path

import numpy as np
import pytest
import torch

from checkpoint_files import as_written
from cli_runs import start
from test_run_lifecycle import finish, one_error_line

from src.eval import load_model
from src.models.agch_module import AGCHModule
from src.models.base import MODULE_CLASS_KEY
from src.models.djsrh_module import DJSRHModule
from src.utils.checkpoints import (
    check_checkpoint_fits,
    check_finite_weights,
    first_non_finite,
    read_checkpoint,
)
from src.utils.errors import ConfigError, DataError, TrainingError

DIMS = (12, 10)
SMALL = dict(code_length=8, hidden_dim=16, gcn_dim=8, eval_ks=[1])


def write_checkpoint(path: Path, cls: type = AGCHModule, **kwargs) -> Path:
    """A checkpoint shaped as src/train.py writes one (weights, hyper-parameters, class name,
    an optimiser state, the integrity records), of a freshly built small model."""
    model = cls(
        *DIMS, **(SMALL if cls is AGCHModule else {"code_length": 8, "eval_ks": [1]}) | kwargs
    )
    optimizer = {"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 0.1}]}
    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        MODULE_CLASS_KEY: f"{cls.__module__}.{cls.__qualname__}",
        "optimizer_states": [optimizer],
        "epoch": 0,
    }
    torch.save(as_written(checkpoint), path)
    return path


def loaded_tensors(path: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return dict(checkpoint["state_dict"])


def test_flipped_bytes_anywhere_are_refused_or_change_nothing(tmp_path: Path) -> None:
    """A byte flipped at any of 60 generated positions (headers, tensor data, the central
    directory) is refused with one line naming the file, or -- padding the archive never reads
    -- leaves every tensor as it was: never a silently different model."""
    good = write_checkpoint(tmp_path / "good.ckpt")
    data = good.read_bytes()
    original = loaded_tensors(good)
    rng = np.random.default_rng(22)
    positions = sorted({0, len(data) - 1, *rng.integers(0, len(data), 58).tolist()})
    refused = 0
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 1 << int(rng.integers(0, 8))
        path = tmp_path / f"flip_{position}.ckpt"
        path.write_bytes(bytes(damaged))
        try:
            read_checkpoint(path)
        except DataError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error), position
            refused += 1
            continue
        for key, value in loaded_tensors(path).items():
            assert torch.equal(value, original[key]), (position, key)
    assert refused >= len(positions) // 2  # most bytes are tensor data or headers


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_tensor_anywhere_is_refused_naming_it(tmp_path: Path, value: float) -> None:
    """NaN/Inf in each of 6 generated weights (one element at a random place) or in the
    optimiser state: DataError naming the file and the tensor."""
    path = write_checkpoint(tmp_path / "good.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    rng = np.random.default_rng(0)
    keys = sorted(checkpoint["state_dict"])
    chosen = [keys[i] for i in rng.choice(len(keys), 6, replace=False)]
    cases = [("state_dict", key) for key in chosen] + [("optimizer_states", None)]
    for group, key in cases:
        bad = torch.load(path, weights_only=True)
        if key is None:
            tensor, name = bad[group][0]["state"][0]["exp_avg"], "optimizer_states.0.state.0"
        else:
            tensor, name = bad[group][key], f"state_dict.{key}"
        tensor.view(-1)[int(rng.integers(0, tensor.numel()))] = value
        target = tmp_path / "bad.ckpt"
        torch.save(bad, target)
        with pytest.raises(DataError, match="expected finite values") as error:
            read_checkpoint(target)
        assert str(error.value).startswith(f"{target} [{name}"), str(error.value)


def test_first_non_finite_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        tree = {f"t{i}": torch.randn(3, 2) for i in range(5)}
        tree["ints"] = torch.arange(4)
        for key in rng.choice(5, int(rng.integers(0, 3)), replace=False):
            tree[f"t{key}"][int(rng.integers(0, 3)), int(rng.integers(0, 2))] = float("nan")
        expected = next((k for k in sorted(tree) if not torch.isfinite(tree[k]).all()), None)
        assert first_non_finite(dict(sorted(tree.items()))) == expected


@pytest.mark.parametrize(
    "trained, configured",
    [
        (dict(code_length=16), dict(code_length=8)),
        (dict(hidden_dim=32), dict(hidden_dim=16)),
        (dict(gcn_dim=4), dict(gcn_dim=8)),
    ],
)
def test_resuming_with_other_sizes_is_one_line(tmp_path, trained, configured) -> None:
    path = write_checkpoint(tmp_path / "trained.ckpt", **trained)
    model = AGCHModule(*DIMS, **(SMALL | configured))
    with pytest.raises(ConfigError, match="ckpt_path: .*shape") as error:
        check_checkpoint_fits(model, path)
    assert "\n" not in str(error.value)
    check_checkpoint_fits(AGCHModule(*DIMS, **(SMALL | trained)), path)  # the same sizes fit


def test_resuming_with_another_method_is_one_line(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "djsrh.ckpt", DJSRHModule, hidden_dim=16)
    with pytest.raises(ConfigError, match="trained with src.models.djsrh_module.DJSRHModule"):
        check_checkpoint_fits(AGCHModule(*DIMS, **SMALL), path)


@pytest.mark.parametrize("key, value", [("code_length", 16), ("hidden_dim", 8), ("gcn_dim", 3)])
def test_hyper_parameters_that_contradict_the_weights(tmp_path: Path, key: str, value) -> None:
    path = write_checkpoint(tmp_path / "edited.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"][key] = value
    torch.save(as_written(checkpoint), path)  # digest recomputed: the weights check decides
    with pytest.raises(ConfigError, match=f"ckpt_path: {path}: weights .* shape"):
        load_model(str(path), *DIMS)


def test_non_finite_trained_weights_are_never_tested() -> None:
    model = AGCHModule(*DIMS, **SMALL)
    check_finite_weights(model)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingError, match="NaN/Inf; nothing is tested"):
        check_finite_weights(model)


def test_eval_of_damaged_or_non_finite_checkpoints_is_one_line(tmp_path: Path) -> None:
    """End to end: eval.py on a checkpoint with a flipped tensor byte, and on one with NaN
    weights, exits 2 with one line naming it and writes nothing (no results.json, no run
    directory)."""
    good = write_checkpoint(tmp_path / "good.ckpt")
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped = tmp_path / "flipped.ckpt"
    flipped.write_bytes(bytes(data))
    checkpoint = torch.load(good, weights_only=True)
    for value in checkpoint["state_dict"].values():
        if value.is_floating_point():
            value.fill_(float("nan"))
    nan = tmp_path / "nan.ckpt"
    torch.save(checkpoint, nan)
    quiet = ["extras.print_config=false", "extras.enforce_tags=false"]
    runs = {
        path: start(
            "eval.py", [*quiet, f"ckpt_path={path}", f"hydra.run.dir={tmp_path / name}"], tmp_path
        )
        for name, path in (("run_flipped", flipped), ("run_nan", nan))
    }
    for path, process in runs.items():
        status, out, err = finish(process)
        assert status == 2, err[-2000:]
        assert one_error_line(err, out).startswith(f"error: {path}")
    assert not any(p.name.startswith("run_") for p in tmp_path.iterdir())


@pytest.mark.parametrize("cls", [AGCHModule, DJSRHModule])
def test_a_legacy_non_zip_checkpoint_is_refused(tmp_path: Path, cls: type) -> None:
    """A checkpoint in torch's pre-1.6 format (no zip archive, so no CRC-32 to prove it whole,
    and not memory-mappable) is one DataError naming the file, even with valid contents; the
    same contents in the zip format read."""
    zipped = write_checkpoint(tmp_path / "zip.ckpt", cls)
    checkpoint = torch.load(zipped, map_location="cpu", weights_only=True)
    legacy = tmp_path / "legacy.ckpt"
    torch.save(checkpoint, legacy, _use_new_zipfile_serialization=False)
    assert torch.load(legacy, map_location="cpu", weights_only=True).keys() == checkpoint.keys()
    with pytest.raises(DataError) as error:
        read_checkpoint(legacy)
    message = str(error.value)
    assert message == (
        f"{legacy}: expected a checkpoint written by src/train.py (a zip archive); this file "
        "is not one"
    )
    assert read_checkpoint(zipped).keys() == checkpoint.keys()
