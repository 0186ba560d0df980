"""A checkpoint proves that its content is the one the project wrote (issue 22, second trial):
a content digest written with every checkpoint and verified on every load, so that a value
edited and saved again with torch.save -- a weight, a saved input statistic, a
hyper-parameter, an optimiser state -- is refused; impossible input statistics are refused
too; a checkpoint without a digest reads with one warning line. Generated edits, judged by a
plain comparison of the edited content with the original."""

from pathlib import Path

import numpy as np
import pytest
import torch

from test_checkpoint_integrity import DIMS, SMALL, write_checkpoint
from test_checkpointing import Scripted, fit

from src.callbacks.checkpointing import EpochEndCheckpoint
from src.models.agch_module import AGCHModule
from src.utils.checkpoint_content import DIGEST_KEY, SETTINGS_KEY, content_digest, with_digest
from src.utils.checkpoints import read_checkpoint
from src.utils.errors import DataError


class Settled(Scripted):
    """A scripted module that keeps its run's settings in its checkpoints, as
    `src.models.base.CrossModalHashingModule` does once src/train.py set them."""

    SETTINGS = {"seed": 0, "data.batch_size": 4}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[SETTINGS_KEY] = dict(self.SETTINGS)


def same(a, b) -> bool:
    """The reference: plain recursive equality of two checkpoint trees (tensors by dtype,
    shape and values; NaN never occurs here)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def digested(tmp_path: Path) -> Path:
    """A small AGCH checkpoint with the project's digest (as AtomicCheckpointIO writes)."""
    plain = write_checkpoint(tmp_path / "plain.ckpt")
    checkpoint = torch.load(plain, weights_only=True)
    checkpoint["state_dict"]["image_std"] = torch.rand(DIMS[0]) + 0.5
    path = tmp_path / "digested.ckpt"
    torch.save(with_digest(checkpoint), path)
    return path


def edit(checkpoint: dict, rng: np.random.Generator) -> None:
    """One generated edit in place: a tensor element (possibly set to its own value), a
    saved input statistic, a dtype, a hyper-parameter, an added or removed entry."""
    kinds = ["element", "same", "stat", "dtype", "hparam", "add", "drop", "optim"]
    kind = kinds[int(rng.integers(len(kinds)))]
    keys = sorted(checkpoint["state_dict"])
    tensor = checkpoint["state_dict"][keys[int(rng.integers(len(keys)))]]
    flat = tensor.view(-1)
    at = int(rng.integers(flat.numel()))
    if kind == "element":
        flat[at] = flat[at] + [1.0, 1e-6, -3.0][int(rng.integers(3))]
    elif kind == "same":
        flat[at] = flat[at].clone()
    elif kind == "stat":
        checkpoint["state_dict"]["image_std"][at % DIMS[0]] = [0.0, 2.0][int(rng.integers(2))]
    elif kind == "dtype":
        checkpoint["state_dict"][keys[0]] = checkpoint["state_dict"][keys[0]].double()
    elif kind == "hparam":
        name = ["code_length", "alpha", "loss_scale", "eval_ks"][int(rng.integers(4))]
        values = [checkpoint["hyper_parameters"][name], "paper", 7, 0.5, [1, 5]]
        checkpoint["hyper_parameters"][name] = values[int(rng.integers(len(values)))]
    elif kind == "add":
        checkpoint["state_dict"]["extra"] = torch.zeros(2)
    elif kind == "drop":
        del checkpoint["state_dict"][keys[-1]]
    else:
        checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] = [0.1, 1.0][
            int(rng.integers(2))
        ]


def test_edits_saved_again_are_refused_exactly_when_the_content_changed(tmp_path) -> None:
    """80 generated edits (some leave the content as it was): refused with one line naming
    the file and [content_sha256] exactly when a plain comparison finds a difference, else
    read as before; a stale or missing digest never lets an edit through silently."""
    path = digested(tmp_path)
    original = torch.load(path, weights_only=True)
    rng = np.random.default_rng(26)
    refused = 0
    for case in range(80):
        checkpoint = torch.load(path, weights_only=True)
        edit(checkpoint, rng)
        target = tmp_path / f"edit_{case}.ckpt"
        torch.save(checkpoint, target)
        if same(checkpoint, original):
            assert read_checkpoint(target)[DIGEST_KEY] == original[DIGEST_KEY], case
            continue
        with pytest.raises(DataError) as error:
            read_checkpoint(target)
        line = str(error.value)
        assert "\n" not in line and line.startswith(f"{target} ["), line
        refused += 1
        if "state_dict.image_std" not in line:  # else the statistics check came first
            assert line.startswith(f"{target} [{DIGEST_KEY}]: expected the content"), line
    assert 40 <= refused < 80


def test_the_digest_survives_saving_and_memory_mapped_loading(tmp_path: Path) -> None:
    """The digest of the content before torch.save equals the one after a plain and a
    memory-mapped load, whatever the insertion order of a dict."""
    rng = np.random.default_rng(3)
    for case in range(10):
        tree = {
            f"k{i}": torch.from_numpy(rng.normal(size=(3, int(rng.integers(1, 4)))))
            for i in range(4)
        }
        tree |= {"n": int(rng.integers(9)), "s": "x", "l": [1.5, None, True], 7: (1, 2)}
        path = tmp_path / f"t{case}.pt"
        torch.save(tree, path)
        for loaded in (torch.load(path), torch.load(path, mmap=True, weights_only=True)):
            assert content_digest(loaded) == content_digest(tree)
        shuffled = dict(reversed(list(tree.items())))
        assert content_digest(shuffled) == content_digest(tree)
        before = content_digest(tree)
        tree["k0"][0, 0] += 1e-12  # float64: a change of the last bits
        assert content_digest(tree) != before


@pytest.mark.parametrize("bad", [0.0, -1.0, 1e-9, float("-inf")])
def test_impossible_saved_input_statistics_are_refused(tmp_path: Path, bad: float) -> None:
    """A standard deviation below 1e-6 (none that train_statistics writes) in a checkpoint
    whose digest matches is one line naming the statistic; the same checkpoint with possible
    statistics reads."""
    checkpoint = torch.load(digested(tmp_path), weights_only=True)
    rng = np.random.default_rng(7)
    for key, dim in (("image_std", DIMS[0]), ("text_std", DIMS[1])):
        stats = dict(checkpoint, state_dict=dict(checkpoint["state_dict"]))
        std = torch.rand(dim) + 1e-6
        std[int(rng.integers(dim))] = bad
        stats["state_dict"][key] = std
        path = tmp_path / f"{key}.ckpt"
        torch.save(with_digest(stats), path)
        if bad == float("-inf"):
            with pytest.raises(DataError, match="expected finite values"):
                read_checkpoint(path)
            continue
        with pytest.raises(DataError, match=rf"^{path} \[state_dict.{key}\]: expected standard"):
            read_checkpoint(path)
        std[std < 1e-6] = 1.0
        torch.save(with_digest(stats), path)
        read_checkpoint(path)


def test_every_checkpoint_written_in_a_fit_carries_its_digest(tmp_path, capsys) -> None:
    """last.ckpt and a best file slimmed to its weights once last.ckpt is a later epoch
    (drop_training_state): each reads, its digest that of its content, its run settings
    kept."""
    model = Settled([3.0, 1.0, 2.0])
    model.save_hyperparameters({"width": 2})
    fit(tmp_path, EpochEndCheckpoint, [3.0, 1.0, 2.0], model=model)
    files = sorted(tmp_path.glob("*.ckpt"))
    assert {p.name for p in files} == {"epoch_000.ckpt", "last.ckpt"}, files
    for path in files:
        checkpoint = read_checkpoint(path)
        assert checkpoint[DIGEST_KEY] == content_digest(checkpoint), path
        assert checkpoint[SETTINGS_KEY] == Settled.SETTINGS, path
    assert "optimizer_states" not in read_checkpoint(tmp_path / "epoch_000.ckpt")
    assert capsys.readouterr().err == ""


def test_an_agch_module_checkpoint_names_its_run_settings(tmp_path: Path) -> None:
    """The base module writes the run's settings beside its class name when train.py set
    them (a resume compares them, tests/test_resume_settings.py)."""
    model = AGCHModule(*DIMS, **SMALL)
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    assert "run_settings" not in checkpoint
    model.run_settings = {"seed": 3}
    model.on_save_checkpoint(checkpoint)
    assert checkpoint["run_settings"] == {"seed": 3}


WRONG_TYPES = [None, 0, 1.5, "", "0" * 63, "g" * 64, [], {}, {1: 2}, ["a"], b"x" * 64]


def plain_whole(checkpoint: dict) -> bool:
    """The reference, written out: a 64-digit lower-case hex digest and a non-empty dict of
    string-keyed run settings are both there."""
    digest, settings = checkpoint.get(DIGEST_KEY), checkpoint.get(SETTINGS_KEY)
    hex_ok = isinstance(digest, str) and len(digest) == 64
    hex_ok = hex_ok and all(c in "0123456789abcdef" for c in digest)
    settings_ok = isinstance(settings, dict) and len(settings) > 0
    return hex_ok and settings_ok and all(isinstance(k, str) for k in settings)


@pytest.mark.parametrize("seed", range(4))
def test_a_checkpoint_missing_an_integrity_record_is_refused(tmp_path, seed) -> None:
    """Issue 22 trial (c52): first-layer weights x 3, content_sha256 and run_settings deleted
    -> evaluated with a warning. Every subset of the integrity records removed, set to null or
    to another type, with and without a weight edit (and the digest recomputed or not): refused
    with one line naming the file and a record exactly when the plain reference finds one
    missing or malformed; untouched copies read."""
    rng = np.random.default_rng(seed)
    original = torch.load(digested(tmp_path), weights_only=True)
    records = [DIGEST_KEY, SETTINGS_KEY]
    for case in range(24):
        checkpoint = {**original, "state_dict": dict(original["state_dict"])}
        if rng.integers(2):
            key = sorted(checkpoint["state_dict"])[0]
            checkpoint["state_dict"][key] = checkpoint["state_dict"][key] * 3
        if rng.integers(2):  # an editor that recomputes the digest after the other changes
            checkpoint = with_digest(checkpoint)
        subset = [k for k in records if rng.integers(2)]
        for key in subset:
            how = int(rng.integers(3))
            if how == 0:
                checkpoint.pop(key)
            else:
                checkpoint[key] = None if how == 1 else WRONG_TYPES[rng.integers(len(WRONG_TYPES))]
        path = tmp_path / f"s{seed}_{case}.ckpt"
        torch.save(checkpoint, path)
        if plain_whole(checkpoint):
            continue  # the digest decides (test_edits_saved_again_...)
        with pytest.raises(DataError) as error:
            read_checkpoint(path)
        line = str(error.value)
        named = [k for k in records if line.startswith(f"{path} [{k}]: expected ")]
        assert "\n" not in line and len(named) == 1, line
        assert named[0] in subset, (line, subset)


def test_every_subset_of_records_removed_with_or_without_an_edit_is_refused(tmp_path) -> None:
    """The exhaustive grid of the trial's case: each non-empty subset of the records deleted
    or nulled, the weights edited or not, an untouched copy beside them."""
    original = torch.load(digested(tmp_path), weights_only=True)
    read_checkpoint(digested(tmp_path))
    for n, (subset, edited, nulled) in enumerate(
        (s, e, z)
        for s in ([DIGEST_KEY], [SETTINGS_KEY], [DIGEST_KEY, SETTINGS_KEY])
        for e in (False, True)
        for z in (False, True)
    ):
        checkpoint = {**original, "state_dict": dict(original["state_dict"])}
        if edited:
            key = sorted(checkpoint["state_dict"])[0]
            checkpoint["state_dict"][key] = checkpoint["state_dict"][key] * 3
        for key in subset:
            if nulled:
                checkpoint[key] = None
            else:
                del checkpoint[key]
        path = tmp_path / f"grid{n}.ckpt"
        torch.save(checkpoint, path)
        with pytest.raises(DataError, match=rf"^{path} \[({DIGEST_KEY}|{SETTINGS_KEY})\]: expe"):
            read_checkpoint(path)
