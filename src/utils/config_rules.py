"""Every configuration value a user sets is checked here, before any work: its type and range,
by declaration. An option joins by a line of `RULES` (``"group.key": rule``); a method's own
hyper-parameters by its ``RULES`` (src/models/checks.py), applied to ``cfg.model`` here as well.

The first value that breaks its rule raises one `ConfigError` line naming the key, the value
and what is allowed, e.g. ``trainer.max_epochs: expected an integer >= 1, got 'abc'``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.utils.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's seeds (Lightning's seed_everything) are uint32


@dataclass(frozen=True)
class Rule:
    """What a key takes: ``kind`` "int", "real" (finite), "fraction" ([0, 1] or an int >= 0,
    Lightning's limit_*_batches), "bool", "str", "choice" (one of ``choices``), "list_str" or
    "mapping" (names to JSON scalars or lists of them);
    ``low``/``high`` bound numbers; ``also`` are further values allowed as they are."""

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    also: tuple[Any, ...] = ()

    def allows(self, value: Any) -> bool:
        """Whether ``value`` keeps the rule."""
        if (value is None and self.nullable) or any(_same(value, x) for x in self.also):
            return True
        if self.kind in ("int", "real"):
            ok = is_int(value) if self.kind == "int" else is_real(value)
            return (
                ok
                and (self.low is None or value >= self.low)
                and (self.high is None or value <= self.high)
            )
        checks = {
            "fraction": lambda v: (is_real(v) and 0 <= v <= 1) or (is_int(v) and v >= 0),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str) and v != "",
            "choice": lambda v: any(_same(v, x) for x in self.choices),
            "list_str": lambda v: isinstance(v, (list, tuple))
            and all(isinstance(x, str) for x in v),
            "mapping": lambda v: isinstance(v, Mapping)
            and all(isinstance(k, str) and _plain(x) for k, x in v.items()),
        }
        return checks[self.kind](value)

    def expected(self) -> str:
        """What the rule allows, in words."""
        words = {
            "int": "an integer",
            "real": "a finite number",
            "fraction": "a fraction in [0, 1] or a whole number of batches >= 0",
            "bool": "true or false",
            "str": "a non-empty string",
            "choice": f"one of {list(self.choices)}",
            "list_str": "a list of strings",
            "mapping": "a mapping of names to numbers, strings, booleans, null or lists of them",
        }[self.kind]
        if self.low is not None and self.high is not None:
            words += f" in [{_num(self.low)}, {_num(self.high)}]"
        elif self.low is not None:
            words += f" >= {_num(self.low)}"
        elif self.high is not None:
            words += f" <= {_num(self.high)}"
        extra = [repr(x) for x in self.also] + (["null"] if self.nullable else [])
        return words + (f" (or {', '.join(extra)})" if extra else "")

    def check(self, key: str, value: Any) -> None:
        """Raise ConfigError naming ``key`` when ``value`` breaks the rule."""
        if not self.allows(value):
            raise ConfigError(f"{key}: expected {self.expected()}, got {value!r}")


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number (an int or a float), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _plain(value: Any, nested: bool = True) -> bool:
    """A JSON scalar, or (``nested``) a list of them."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    return nested and isinstance(value, (list, tuple)) and all(_plain(x, False) for x in value)


def _same(value: Any, allowed: Any) -> bool:
    return type(value) is type(allowed) and value == allowed


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def integer(low: int | None = None, high: int | None = None, **kw: Any) -> Rule:
    """An integer in [low, high]."""
    return Rule("int", low, high, **kw)


def real(low: float | None = None, high: float | None = None, **kw: Any) -> Rule:
    """A finite number in [low, high]."""
    return Rule("real", low, high, **kw)


def choice(*choices: Any, **kw: Any) -> Rule:
    """One of ``choices`` (compared with their type: "1" is not 1)."""
    return Rule("choice", choices=choices, **kw)


BOOL, STR, FRACTION = Rule("bool"), Rule("str"), Rule("fraction")
PRECISIONS = (
    *("64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed"),
    *("64", "32", "16", "bf16", 64, 32, 16),
)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")

# Every option of the configuration groups (configs/*) and the entry configs, by dotted key.
RULES: dict[str, Rule] = {
    "seed": integer(0, SEED_MAX, nullable=True),
    "train": BOOL,
    "test": BOOL,
    "ckpt_path": Rule("str", nullable=True),
    "task_name": STR,
    "tags": Rule("list_str"),
    "optimized_metric": Rule("str", nullable=True),
    "export_codes": BOOL,
    "codes_path": STR,
    "extras.print_config": BOOL,
    "extras.enforce_tags": BOOL,
    "extras.ignore_warnings": BOOL,
    "trainer.max_epochs": integer(1),
    "trainer.min_epochs": integer(0, nullable=True),
    "trainer.max_steps": integer(1, also=(-1,)),
    "trainer.accelerator": choice(*ACCELERATORS),
    "trainer.devices": integer(1, also=("auto", -1)),
    "trainer.num_nodes": integer(1),
    "trainer.precision": choice(*PRECISIONS),
    "trainer.check_val_every_n_epoch": integer(1, nullable=True),
    "trainer.log_every_n_steps": integer(1),
    "trainer.num_sanity_val_steps": integer(-1),
    "trainer.deterministic": Rule("bool", also=("warn",)),
    "trainer.enable_model_summary": BOOL,
    "trainer.enable_progress_bar": BOOL,
    "trainer.enable_checkpointing": BOOL,
    "trainer.detect_anomaly": BOOL,
    "trainer.fast_dev_run": integer(0, also=(True, False)),
    "trainer.limit_train_batches": FRACTION,
    "trainer.limit_val_batches": FRACTION,
    "trainer.limit_test_batches": FRACTION,
    "trainer.overfit_batches": FRACTION,
    "trainer.sync_batchnorm": BOOL,
    "trainer.use_distributed_sampler": BOOL,
    "trainer.default_root_dir": STR,
    "trainer.accumulate_grad_batches": choice(1),  # manual optimisation: the model steps
    "trainer.gradient_clip_val": choice(None),  # manual optimisation: model.grad_clip clips
    "data.path": STR,
    "data.batch_size": integer(2),  # the similarity graph of one pair is degenerate
    "data.eval_batch_size": integer(1),
    "data.num_workers": integer(0),
    "data.cache_in_memory": BOOL,
    "data.cache_dtype": choice("float32", "float16", "bfloat16"),
    "data.device_cache": BOOL,
    "data.pin_memory": BOOL,
    "data.drop_last": BOOL,
    "data.seed": integer(0, SEED_MAX, nullable=True),
    "data.val_retrieval_limit": integer(1, nullable=True),
    "data.val_mode": choice("official", "heldout"),
    "data.prepare_hint": Rule("str", nullable=True),
    "data.raw_source": Rule("str", nullable=True),
    **{f"data.synthetic.{k}": integer(1) for k in ("n_items", "n_query", "n_train")},
    **{f"data.synthetic.{k}": integer(1) for k in ("image_dim", "text_dim", "n_classes")},
    "data.synthetic.n_val": integer(0),
    "data.synthetic.seed": integer(0, SEED_MAX),
    "callbacks.model_checkpoint.save_top_k": integer(-1),
    "callbacks.model_checkpoint.every_n_epochs": integer(1, nullable=True),
    "callbacks.model_checkpoint.mode": choice("min", "max"),
    "callbacks.model_checkpoint.save_last": BOOL,
    "callbacks.model_checkpoint.monitor": Rule("str", nullable=True),
    "callbacks.training_health.min_weight_change": real(0),
    "callbacks.retrieval_gallery.queries": integer(1),
    "callbacks.retrieval_gallery.top_k": integer(1),
    "callbacks.retrieval_gallery.seed": integer(0, SEED_MAX),
}


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` as plain containers with every interpolation resolved; an interpolation that
    fails (``${oc.env:NOPE}``, a key that is not there) is a ConfigError."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except Exception as exc:  # omegaconf's InterpolationResolutionError and its kin
        key = getattr(exc, "full_key", None) or "config"
        reason = " ".join(str(exc).split("\n")[0].split())
        raise ConfigError(f"{key}: cannot resolve its value ({reason})") from exc


def _select(tree: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """(present, value) of dotted ``key`` in nested mappings."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_config(cfg: DictConfig) -> None:
    """Check every key added with ``+`` (`src.utils.added_keys`), every value of `RULES`
    present in ``cfg`` and the model's hyper-parameters (`check_model_config`), before any
    work; raise ConfigError on the first bad one."""
    values = resolved(cfg)
    from hydra.core.hydra_config import HydraConfig

    from src.utils.added_keys import added_keys, check_added_key

    if HydraConfig.initialized():  # keys added on the command line with +key=...
        for key in added_keys(HydraConfig.get().overrides.task):
            check_added_key(key, values, RULES)
    for key, rule in RULES.items():
        present, value = _select(values, key)
        if present and value != "???":
            rule.check(key, value)
    if isinstance(values.get("model"), Mapping):
        check_model_config(values["model"])


def check_model_config(model: Mapping[str, Any]) -> None:
    """The method's hyper-parameters as the model config sets them (the constructor's defaults
    for the rest), checked by the method's ``RULES`` and the evaluation keys' rules, before
    data is read. The feature dimensions come from the data later (checked then)."""
    from hydra.utils import get_class

    from src.models.checks import check_eval_hparams, check_rules

    target = model.get("_target_")
    try:
        cls = get_class(str(target))
    except Exception as exc:
        raise ConfigError(f"model._target_: expected a model class, got {target!r}") from exc
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    hp = defaults | {k: v for k, v in model.items() if not k.startswith("_")}
    hp |= {"image_dim": 1, "text_dim": 1}
    check_eval_hparams(hp)
    check_rules(hp, **getattr(cls, "RULES", {}))
