"""Reading a checkpoint given on the command line: one error line naming the file when it is
not a checkpoint of this project, when it is damaged (a member of its zip archive fails its
CRC-32), holds a non-finite tensor or cannot prove it is whole (an integrity record missing or
malformed, a content digest that differs), or when its weights do not fit the model; how far its
training went. Every checkpoint that eval.py tests, train.py resumes or tests is read here
first, so that no number comes out of a damaged or non-finite one."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from src.utils.checkpoint_content import check_input_stats, digest_problem, foreign_object
from src.utils.checkpoint_rules import check_recorded
from src.utils.errors import ConfigError, DataError, TrainingError

EXPECTED = "expected a checkpoint written by src/train.py"


def check_archive(path: Path) -> None:
    """Raise DataError naming ``path`` (and the member) when a member of the checkpoint's zip
    archive (torch.save's format) fails its CRC-32, when a file that starts as a zip archive
    has a damaged directory or member header, or when it is no zip archive at all; every byte
    of the file is read (`zipfile.ZipFile.testzip`)."""
    damaged_words = "damaged checkpoint: {what} (a changed or truncated copy); use an intact copy"
    try:
        with open(path, "rb") as file:
            is_zip = file.read(4) == b"PK\x03\x04"
    except OSError as exc:  # a read error of the file system, not of the archive
        raise DataError(
            path, None, f"cannot read it ({exc.strerror or exc}); expected a readable file"
        ) from exc
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as exc:  # a bad
        # name in the directory is a UnicodeDecodeError (ValueError), a bad offset EINVAL
        if not is_zip:
            raise DataError(
                path, None, f"{EXPECTED} (a zip archive); this file is not one"
            ) from exc
        what = "its zip directory or a member header is unreadable"
        raise DataError(path, None, damaged_words.format(what=what) + " or retrain") from exc
    if damaged is not None:
        what = "this member fails its CRC-32 check"
        raise DataError(path, damaged, damaged_words.format(what=what) + " or retrain")


def tensors(tree: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """(dotted key, tensor) of every tensor in nested dicts, lists and tuples."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from tensors(value, f"{prefix}.{index}" if prefix else str(index))


def first_non_finite(tree: Any) -> str | None:
    """Key of the first floating-point tensor of ``tree`` holding a NaN or an Inf, else None."""
    for key, tensor in tensors(tree):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return key
    return None


def check_checkpoint_path(path: Path) -> None:
    """Raise DataError saying truly why ``path`` is no readable checkpoint file
    (`src.utils.paths.input_problem`: missing, a folder -- naming the last.ckpt inside it, if
    any --, a loop of links, a link to a missing path, a device or a pipe)."""
    from src.utils.paths import classify, input_problem

    problem = input_problem(path, "file", "a checkpoint file (ckpt_path=<a .ckpt file>)")
    if problem is None:
        return
    candidates = (path / "checkpoints/last.ckpt", path / "last.ckpt")
    inside = [p for p in candidates if p.is_file()] if classify(path).kind == "folder" else []
    hint = f" such as {inside[0]}" if inside else ""
    raise DataError(path, "ckpt_path", f"expected {problem}{hint}")


@lru_cache(maxsize=16)
def _verify(path: Path, size: int, mtime_ns: int) -> None:
    """Everything `read_checkpoint` checks, once per (file, size, modification time): eval
    and resume read a checkpoint more than once."""
    check_archive(path)
    checkpoint = _load(path)
    bad = first_non_finite(checkpoint)
    if bad is not None:
        raise DataError(
            path, bad, "expected finite values, found NaN/Inf; use an earlier checkpoint"
        )
    problem = digest_problem(checkpoint)
    if problem is not None:
        raise DataError(path, *problem)
    check_input_stats(path, checkpoint["state_dict"])
    check_recorded(path, checkpoint)  # its settings and loop state, by the project's rules


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint at `path` (loaded with ``weights_only=True``, memory-mapped, on the CPU),
    verified whole (`check_archive`), finite (every floating-point tensor, optimiser states
    included), as the project wrote it (its integrity records present and of their types, its
    content digest matching: `src.utils.checkpoint_content.digest_problem`), with possible
    input statistics (`check_input_stats`) and recorded settings and loop state that keep the
    project's rules (`src.utils.checkpoint_rules.check_recorded`).

    Raises DataError naming the file when it is missing, a folder or not a regular file
    (`check_checkpoint_path`), unreadable (random bytes, truncated, not a torch file), damaged
    (a CRC-32 mismatch), holds a NaN/Inf (naming the tensor), was edited (a digest mismatch),
    lacks an integrity record or holds one null or of another type (naming the record),
    records a setting or loop state that breaks a rule (naming the recorded key), or is
    a torch file that is not a Lightning checkpoint with hyper-parameters and weights
    (``state_dict``).
    """
    path = Path(path)
    check_checkpoint_path(path)
    stat = path.stat()
    _verify(path.resolve(), stat.st_size, stat.st_mtime_ns)
    return _load(path)


def _load(path: Path) -> dict[str, Any]:
    """torch.load of a checkpoint whose archive passed `check_archive`, memory-mapped; its
    structure checked (a dict with ``state_dict`` and ``hyper_parameters``)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for a file that is not its own
        foreign = foreign_object(exc)
        if foreign is not None:  # readable, intact: it holds an object torch will not load
            why = (
                f"{EXPECTED}; it holds an object of {foreign}, which the weights-only loader "
                "does not read (src/train.py writes tensors and plain Python values only): "
                "a checkpoint edited or saved by another program (numpy values included), "
                "not a damaged one; use the run's own file"
            )
            raise DataError(path, None, why) from exc
        reason = " ".join(str(exc).split(". ")[0].split())[:160]  # miniz's first sentence
        raise DataError(
            path,
            None,
            f"{EXPECTED}; torch cannot read this zip archive, whose members pass their CRC "
            f"check ({reason}): a copy damaged in its directory, or a zip file of another kind",
        ) from exc
    if not isinstance(checkpoint, dict):
        raise DataError(path, None, f"{EXPECTED}; it holds a {type(checkpoint).__name__}")
    for key in ("state_dict", "hyper_parameters"):
        if not isinstance(checkpoint.get(key), dict):
            raise DataError(path, key, f"{EXPECTED}; this key is missing")
    return checkpoint


def check_weights_fit(
    model: torch.nn.Module,
    state_dict: Mapping[str, Any],
    path: object,
    saved: Mapping[str, Any] | None = None,
) -> None:
    """Raise ConfigError when the checkpoint's weights (``state_dict``) do not fit ``model``
    (built from the configuration or from the checkpoint's hyper-parameters ``saved``): a key
    missing or extra, or a tensor of another shape. What to do is said by `_misfit_advice`:
    the settings the model was built with that differ from ``saved``, or -- none differing --
    that the checkpoint contradicts itself (eval.py builds the model from ``saved``)."""
    own = model.state_dict()
    for key, value in own.items():
        shape = tuple(getattr(state_dict.get(key), "shape", ())) if key in state_dict else None
        if shape is None:
            found = f"has no weights {key!r}, which the model has"
        elif shape != tuple(value.shape):
            found = f"weights {key!r} have shape {list(shape)}, the model's {list(value.shape)}"
        else:
            continue
        raise ConfigError(f"ckpt_path: {path}: {found}; expected {_misfit_advice(model, saved)}")
    extra = sorted(set(state_dict) - set(own))
    if extra:
        raise ConfigError(
            f"ckpt_path: {path}: holds weights {extra[0]!r} that the model does not have; "
            f"expected {_misfit_advice(model, saved)}"
        )


WIDTHS = ("image_dim", "text_dim")  # model hyper-parameters that the data sets, not a key


def _misfit_advice(model: torch.nn.Module, saved: Mapping[str, Any] | None) -> str:
    """What to do about weights that do not fit ``model``: give the checkpoint's values of the
    model settings that differ (``model.<key>=<value>``), use its data when the feature widths
    differ, or -- when the model was built with the checkpoint's own hyper-parameters --
    know that the file contradicts itself (no setting can make it fit)."""
    from src.utils.resume_checks import override_value, setting_differences

    if saved is None:
        return "the method and sizes it was trained with"
    now = dict(getattr(model, "hparams", {}))
    shared = [k for k in saved if k in now]
    differ = [
        k for k, _, _ in setting_differences(*({k: d[k] for k in shared} for d in (saved, now)))
    ]
    widths = [k for k in differ if k in WIDTHS]
    keys = [k for k in differ if k not in WIDTHS]
    if keys:
        given = " ".join(f"model.{k}={override_value(saved[k])}" for k in keys)
        return f"the model settings it was trained with: give {given}"
    if widths:
        pairs = ", ".join(f"{k} {saved[k]} (now {now[k]})" for k in widths)
        return f"the data it was trained on, of feature widths {pairs}"
    return (
        "a checkpoint as src/train.py wrote it: its weights contradict its own saved "
        "hyper-parameters (an edited checkpoint, or one written by other code), so no setting "
        "makes them fit; use an intact copy or retrain"
    )


def epochs_done(checkpoint: dict[str, Any]) -> int:
    """Number of training epochs finished when the checkpoint was written (the loop's count
    of completed epochs; a checkpoint written at an epoch end counts that epoch)."""
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    processed = progress.get("total", {}).get("processed")
    return int(processed) if processed is not None else int(checkpoint.get("epoch", -1)) + 1


def check_resumable(
    path: str | os.PathLike,
    max_epochs: int | None,
    advice: Callable[[int], str] | None = None,
) -> None:
    """Refuse to resume from a checkpoint whose run already trained ``max_epochs`` epochs: fit
    would do nothing, and the test would run on a finished model (ConfigError). ``advice``
    (of the epochs done) says what to run instead (src/train.py: whole commands)."""
    done = epochs_done(read_checkpoint(path))
    if max_epochs is not None and max_epochs >= 0 and done >= max_epochs:
        then = advice(done) if advice is not None else "raise trainer.max_epochs to train on"
        raise ConfigError(
            f"ckpt_path: {path}: its run finished {done} of trainer.max_epochs={max_epochs} "
            f"epochs, nothing left to train; {then}"
        )


def check_checkpoint_fits(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """The checkpoint at ``path`` was written by ``model``'s method (the class it names, when
    it names one) and its weights fit ``model`` (`check_weights_fit`) in the dtype its run
    wrote them (`check_weight_dtypes`); else ConfigError."""
    from src.utils.weight_dtypes import check_weight_dtypes

    checkpoint = read_checkpoint(path)
    name = checkpoint.get("module_class")  # src.models.base.MODULE_CLASS_KEY
    own = f"{type(model).__module__}.{type(model).__qualname__}"
    check_same_method(name, own, path)
    check_weights_fit(model, checkpoint["state_dict"], path, checkpoint["hyper_parameters"])
    check_weight_dtypes(model, checkpoint, path)  # src/utils/weight_dtypes.py


def check_same_method(
    trained: str | None, built: str, path: object, advice: Callable[[str], str] | None = None
) -> None:
    """Raise ConfigError when the checkpoint's method class ``trained`` (None: not recorded)
    is not the class ``built`` that the configuration builds, naming the ``model=`` choice of
    configs/model/ that builds it (`model_choice`) and what ``advice`` (the choice -> the
    further overrides the run needs with it, e.g. `resume_checks.method_change_advice`) adds."""
    if trained is None or trained == built:
        return
    choice = model_choice(trained)
    more = advice(choice) if advice and choice else ""
    give = (
        f"give model={choice}{more} to go on (in place of the model choice and model.* "
        "overrides given)"
        if choice
        else "one of configs/model/"
    )
    raise ConfigError(
        f"ckpt_path: {path}: trained with {trained}, the configuration builds {built}; "
        f"expected the method it was trained with: {give}"
    )


def model_choice(target: str) -> str | None:
    """The name of the configs/model/*.yaml file whose ``_target_`` is ``target``, or None."""
    for config in sorted(
        (Path(__file__).resolve().parents[2] / "configs" / "model").glob("*.yaml")
    ):
        for line in config.read_text().splitlines():
            if line.split("#")[0].strip() == f"_target_: {target}":
                return config.stem
    return None


def check_finite_weights(model: torch.nn.Module) -> None:
    """Raise TrainingError when a weight or buffer of ``model`` holds a NaN/Inf: no metric is
    computed from such a model."""
    bad = first_non_finite(model.state_dict())
    if bad is not None:
        raise TrainingError(f"the trained weights {bad!r} hold NaN/Inf; nothing is tested")
