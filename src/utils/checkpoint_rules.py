"""What a checkpoint records must keep the project's rules, as a command-line value must.

A checkpoint loaded, edited and saved again with the project's own digest (`with_digest`) is
whole by its digest; its recorded settings and loop state may still be values that no run of
src/train.py could have written: ``seed=-1``, ``data.batch_size=0``, ``epoch=-3``. Every
recorded setting passes the rule that the same key passes on the command line -- one place:
`src.utils.config_rules.RULES` for ``run_settings`` and ``datamodule_hyper_parameters``
(``data.<key>``), the method's rules (`check_model_values`) for ``hyper_parameters`` -- and
the loop state that a resume restores is consistent with itself (`check_loop_state`). A
checkpoint that breaks them is refused on every load (`src.utils.checkpoints.read_checkpoint`),
before any work, naming the recorded key; so no advice built from a recorded value (a resume's
``give data.batch_size=...``) proposes a value the rules refuse.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from src.utils.checkpoint_content import SETTINGS_KEY
from src.utils.errors import ConfigError, DataError
from src.utils.rule_kinds import RuleBroken, integer

CONTRADICTS = (
    "the checkpoint contradicts the project's rules: it was edited or written by other code"
)
REMEDY = "use the checkpoint as train.py wrote it, or retrain"
DATAMODULE_KEY = "datamodule_hyper_parameters"  # Lightning's record of the datamodule's arguments
COUNT = integer(0)  # a loop counter, the epoch, the global step
PROGRESS = ("ready", "started", "processed", "completed")  # Lightning's counters, in their order
EPOCH = ("epoch_progress", "current", "completed")  # Lightning's current_epoch
# where Lightning counts the optimiser steps that make global_step (manual, automatic
# optimisation: the other one stays 0, so global_step is the larger)
STEPS = (
    ("epoch_loop.manual_optimization.optim_step_progress", "total", "completed"),
    (
        "epoch_loop.automatic_optimization.optim_progress",
        "optimizer",
        "step",
        "total",
        "completed",
    ),
)


def refusal(path: object, key: str, value: Any, expected: str) -> DataError:
    """The error of a recorded ``value`` under ``key`` that breaks a rule (``expected``)."""
    return DataError(
        path,
        key,
        f"the checkpoint records {value!r}; expected {expected} ({CONTRADICTS}); {REMEDY}",
    )


def check_recorded(path: object, checkpoint: Mapping[str, Any]) -> None:
    """The recorded settings (`check_recorded_settings`), the model's hyper-parameters
    (`check_model_record`) and the loop state (`check_loop_state`) of ``checkpoint``, read
    from ``path``. Raises DataError naming ``path`` and the first recorded key that breaks a
    rule."""
    check_recorded_settings(path, checkpoint)
    check_model_record(path, checkpoint)
    check_loop_state(path, checkpoint)


def recorded_settings(checkpoint: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(the key in the checkpoint, the config key it records, the value) of every recorded
    setting: ``datamodule_hyper_parameters`` as ``data.<key>``, then ``run_settings``; nested
    values flattened (``data.synthetic.n_classes``)."""
    from src.utils.resume_checks import flat

    for record, prefix in ((DATAMODULE_KEY, "data."), (SETTINGS_KEY, "")):
        values = checkpoint.get(record)
        for key, value in flat(dict(values) if isinstance(values, Mapping) else {}).items():
            yield f"{record}.{key}", f"{prefix}{key}", value


def check_recorded_settings(path: object, checkpoint: Mapping[str, Any]) -> None:
    """Every recorded setting (`recorded_settings`) by the rule of its config key (`RULES`;
    an output folder's rule aside: another machine's folders need not exist here); one key
    recorded twice with two values; recorded synthetic data that cannot be generated
    (`check_params`). Raises DataError."""
    from src.data.synthetic import check_params
    from src.utils.config_rules import RULES

    seen: dict[str, tuple[str, Any]] = {}
    for where, key, value in recorded_settings(checkpoint):
        rule = RULES.get(key)
        if rule is not None and rule.kind != "folder" and not rule.allows(value):
            raise refusal(path, where, value, rule.expected())
        first, before = seen.setdefault(key, (where, value))
        if first != where and before != value:
            raise refusal(path, where, value, f"{before!r}, the value of {first}")
    synthetic = (checkpoint.get(SETTINGS_KEY) or {}).get("data.synthetic")
    if isinstance(synthetic, Mapping):
        try:
            check_params(synthetic)
        except ConfigError as exc:
            reason = str(exc).split("; expected")[0]
            raise DataError(
                path,
                f"{SETTINGS_KEY}.data.synthetic",
                f"the checkpoint records synthetic data that cannot be generated ({reason}); "
                f"expected parameters of a store ({CONTRADICTS}); {REMEDY}",
            ) from exc


def check_model_record(path: object, checkpoint: Mapping[str, Any]) -> None:
    """The saved ``hyper_parameters`` of the method the checkpoint names: only its
    constructor's arguments, each required one present, every value by the method's rules
    (`check_model_values`, as a model config's), and ``eval_topk`` within the retrieval set
    of the synthetic data the checkpoint records (train.py refuses more: `check_topk`). A
    checkpoint naming no known class is left to the caller (eval.py's `module_class`)."""
    from hydra.utils import get_class

    from src.models.base import MODULE_CLASS_KEY
    from src.utils.config_rules import check_model_values

    saved = checkpoint["hyper_parameters"]
    try:
        cls = get_class(str(checkpoint.get(MODULE_CLASS_KEY)))
    except Exception:  # noqa: BLE001  (not recorded, or a class of another version)
        return
    params = dict(inspect.signature(cls.__init__).parameters)
    params.pop("self", None)
    for key in sorted(set(saved) - set(params), key=str):
        raise refusal(
            path, f"hyper_parameters.{key}", saved[key], f"none: {cls.__name__} takes no {key}"
        )
    for key, param in params.items():
        if param.default is inspect.Parameter.empty and key not in saved:
            raise DataError(
                path,
                f"hyper_parameters.{key}",
                f"the checkpoint records none; expected a value of {cls.__name__}'s {key} "
                f"({CONTRADICTS}); {REMEDY}",
            )
    try:
        check_model_values(cls, saved)
    except RuleBroken as exc:
        key = f"hyper_parameters.{exc.key.removeprefix('model.')}"
        raise refusal(path, key, exc.value, exc.expected) from exc
    check_topk_recorded(path, checkpoint)


def check_topk_recorded(path: object, checkpoint: Mapping[str, Any]) -> None:
    """``eval_topk`` at most the retrieval items (``n_items - n_query``) of the synthetic data
    the checkpoint records, as train.py checks it (`check_topk`)."""
    from src.data.synthetic import synthetic_params
    from src.utils.run_checks import check_topk

    synthetic = (checkpoint.get(SETTINGS_KEY) or {}).get("data.synthetic")
    topk = checkpoint["hyper_parameters"].get("eval_topk")
    if not isinstance(synthetic, Mapping) or topk is None:
        return
    params = synthetic_params(**synthetic)  # checked: `check_recorded_settings`
    items = params["n_items"] - params["n_query"]
    try:
        check_topk(topk, {"retrieval": items})
    except ConfigError as exc:
        expected = (
            f"at most {items}, the retrieval items of the synthetic data it records "
            f"({SETTINGS_KEY}.data.synthetic: n_items - n_query)"
        )
        raise refusal(path, "hyper_parameters.eval_topk", topk, expected) from exc


def check_loop_state(path: object, checkpoint: Mapping[str, Any]) -> None:
    """The loop state a resume restores (Lightning's ``loops.fit_loop``), as Lightning keeps
    it: ``epoch`` and ``global_step`` integers >= 0; every progress counter an integer >= 0,
    ready >= started >= processed >= completed, the current ones at most the totals;
    ``epoch`` the epochs completed (Lightning's current_epoch) and ``global_step`` the
    optimiser steps counted (`STEPS`). What is not recorded is not checked (a checkpoint
    built by hand). Raises DataError naming the recorded key."""
    for key in ("epoch", "global_step"):
        if key in checkpoint and not COUNT.allows(checkpoint[key]):
            raise refusal(path, key, checkpoint[key], COUNT.expected())
    loops = checkpoint.get("loops")
    if loops is None:
        return
    fit = loops.get("fit_loop") if isinstance(loops, Mapping) else None
    if not isinstance(fit, Mapping):
        raise refusal(path, "loops", type(loops).__name__, "Lightning's loop state (fit_loop)")
    for where, counters, total in progress_counters(fit, "loops.fit_loop"):
        check_counters(path, where, counters, total)
    for key, counted in (("epoch", [EPOCH]), ("global_step", STEPS)):
        found = [v for v in (_select(fit, keys) for keys in counted) if COUNT.allows(v)]
        if key in checkpoint and found and checkpoint[key] != max(found):
            where = " or ".join(f"loops.fit_loop.{'.'.join(keys)}" for keys in counted)
            what = f"{max(found)}, the count of its loop state ({where})"
            raise refusal(path, key, checkpoint[key], what)


def progress_counters(
    tree: Mapping[str, Any], where: str
) -> Iterator[tuple[str, Mapping, Mapping | None]]:
    """(dotted key, counters, the totals they belong to or None) of every progress record
    in ``tree``: a mapping whose keys are Lightning's counters (`PROGRESS`); a "current"
    record is paired with the "total" beside it."""
    for key, value in tree.items():
        if not isinstance(value, Mapping):
            continue
        if value and set(value) <= set(PROGRESS):
            total = tree.get("total") if key == "current" else None
            yield f"{where}.{key}", value, total if isinstance(total, Mapping) else None
        else:
            yield from progress_counters(value, f"{where}.{key}")


def check_counters(path: object, where: str, counters: Mapping, total: Mapping | None) -> None:
    """One progress record: integers >= 0, non-increasing in `PROGRESS` order, at most the
    ``total`` record's counters."""
    previous = None
    for name in (n for n in PROGRESS if n in counters):
        value = counters[name]
        if not COUNT.allows(value):
            raise refusal(path, f"{where}.{name}", value, COUNT.expected())
        if previous is not None and value > counters[previous]:
            raise refusal(
                path, f"{where}.{name}", value, f"at most {previous} ({counters[previous]})"
            )
        if total is not None and COUNT.allows(total.get(name)) and value > total[name]:
            raise refusal(path, f"{where}.{name}", value, f"at most the total ({total[name]})")
        previous = name


def _select(tree: Any, keys: tuple[str, ...]) -> Any:
    """``tree[k0][k1]...`` or None when a key is missing."""
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree
