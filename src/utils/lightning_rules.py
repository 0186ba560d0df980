"""Rules of every key that reaches an object Lightning or Hydra builds -- the trainer, the
callbacks, the loggers -- checked before any of them is built (a value refused inside
Lightning's constructors was a traceback after the data had been read). Joined into `RULES`
(src/utils/config_rules.py); tests/test_object_rules.py asserts that every such key of every
config file has one.

Sources: the signatures of ``lightning.pytorch.Trainer``, ``ModelCheckpoint``,
``ModelSummary``, ``LearningRateMonitor``, ``TensorBoardLogger``, ``CSVLogger`` (Lightning
2.6) and of the project's callbacks (src/callbacks/).
"""

from __future__ import annotations

from importlib.util import find_spec

from src.utils.rule_kinds import (
    BOOL,
    FOLDER,
    FRACTION,
    NAME,
    PART,
    SEED_MAX,
    TEXT,
    Rule,
    any_of,
    choice,
    integer,
    real,
)

PRECISIONS = (
    *("64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed"),
    *("64", "32", "16", "bf16", 64, 32, 16),
)


def _installed(module: str) -> bool:
    return find_spec(module) is not None


# what Lightning can use on this installation: a TPU needs torch_xla, deepspeed its package
ACCELERATORS = (
    "auto",
    "cpu",
    "gpu",
    "cuda",
    "mps",
    *(("tpu",) if _installed("torch_xla") else ()),
)


def strategies() -> tuple[str, ...]:
    """Lightning's registered strategy names that this installation can run ("auto" first):
    the deepspeed ones only with deepspeed installed, the XLA/TPU ones only with torch_xla."""
    from lightning.pytorch.strategies import StrategyRegistry

    names = []
    for name in StrategyRegistry.available_strategies():
        needs = "deepspeed" if "deepspeed" in name else None
        needs = "torch_xla" if ("xla" in name or "tpu" in name) else needs
        if needs is None or _installed(needs):
            names.append(name)
    return ("auto", *names)


MIN_STEPS_WHY = (
    "a run ends at trainer.max_epochs whatever min_steps says, and the methods take 1 to 6 "
    "optimiser steps a batch; train longer with trainer.max_epochs (or trainer.min_epochs)"
)
NOT_BY_TIME = "validation by wall-clock time is not reproducible by the seed"

TRAINER_RULES: dict[str, Rule] = {
    "trainer.max_epochs": integer(1),
    "trainer.min_epochs": integer(0, nullable=True),
    "trainer.max_steps": integer(1, also=(-1,)),
    # refused, not honoured: a run ends at max_epochs before any step minimum, and a model
    # counts 1 to 6 optimiser steps a batch, so no step count can be checked against it
    # (trial 8 T05b: min_steps=200 with max_epochs=1 stopped at step 62, silently)
    "trainer.min_steps": choice(0, -1, nullable=True, why=MIN_STEPS_WHY),
    "trainer.accelerator": choice(*ACCELERATORS),
    "trainer.strategy": any_of(choice(*strategies()), Rule("target")),
    "trainer.strategy.process_group_backend": choice("gloo", "nccl", "mpi", nullable=True),
    "trainer.strategy.find_unused_parameters": BOOL,
    "trainer.devices": integer(1, also=("auto", -1)),
    "trainer.num_nodes": integer(1),
    "trainer.precision": choice(*PRECISIONS),
    "trainer.check_val_every_n_epoch": integer(1, nullable=True),
    # bounded by the training batches per epoch too (src/utils/run_checks.py
    # check_val_interval); Lightning's time-based "DD:HH:MM:SS" validates at wall-clock points
    "trainer.val_check_interval": Rule("interval", nullable=True, why=NOT_BY_TIME),
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
    "trainer.default_root_dir": FOLDER,
    "trainer.profiler": choice("simple", "advanced", "pytorch", nullable=True),
    "trainer.accumulate_grad_batches": choice(1),  # manual optimisation: the model steps
    # manual optimisation: model.grad_clip clips; Lightning refuses a value > 0 and ignores one
    # below 0
    "trainer.gradient_clip_val": choice(None, 0, 0.0),
}

CHECKPOINT = "callbacks.model_checkpoint"
CALLBACK_RULES: dict[str, Rule] = {
    f"{CHECKPOINT}.dirpath": FOLDER,
    # joined to dirpath: a "/" or ".." outside the {fields} wrote the best file elsewhere
    f"{CHECKPOINT}.filename": Rule("pattern", nullable=True),
    f"{CHECKPOINT}.monitor": Rule("str", nullable=True),
    f"{CHECKPOINT}.mode": choice("min", "max"),
    f"{CHECKPOINT}.save_last": Rule("bool", also=("link",), nullable=True),
    f"{CHECKPOINT}.last_every_n_epochs": integer(1),
    f"{CHECKPOINT}.save_top_k": integer(-1),
    f"{CHECKPOINT}.auto_insert_metric_name": BOOL,
    f"{CHECKPOINT}.save_weights_only": BOOL,
    f"{CHECKPOINT}.best_weights_only": BOOL,
    f"{CHECKPOINT}.verbose": BOOL,
    f"{CHECKPOINT}.every_n_epochs": integer(1, nullable=True),
    f"{CHECKPOINT}.save_on_train_epoch_end": Rule("bool", nullable=True),
    "callbacks.model_summary.max_depth": integer(-1),
    "callbacks.progress_bar.refresh_rate": integer(0),
    "callbacks.lr_monitor.logging_interval": choice("epoch", "step", nullable=True),
    "callbacks.lr_monitor.log_momentum": BOOL,
    "callbacks.retrieval_figures.validation": BOOL,
    "callbacks.retrieval_figures.histograms": BOOL,
    "callbacks.retrieval_gallery.queries": integer(1),
    "callbacks.retrieval_gallery.top_k": integer(1),
    "callbacks.retrieval_gallery.seed": integer(0, SEED_MAX),
    "callbacks.training_health.min_weight_change": real(0),
}

# name, version, sub_dir and the event files' suffix are joined to save_dir: each a plain name
# (logger.csv.name=../../../x made /x at the filesystem root)
LOGGER_RULES: dict[str, Rule] = {
    "logger.tensorboard.save_dir": FOLDER,
    "logger.tensorboard.name": PART,
    "logger.tensorboard.version": any_of(integer(0), NAME, nullable=True),
    "logger.tensorboard.sub_dir": PART,
    "logger.tensorboard.filename_suffix": PART,
    "logger.tensorboard.log_graph": BOOL,
    "logger.tensorboard.default_hp_metric": BOOL,
    "logger.tensorboard.prefix": TEXT,
    "logger.csv.save_dir": FOLDER,
    "logger.csv.name": PART,
    "logger.csv.version": any_of(integer(0), NAME, nullable=True),
    "logger.csv.prefix": TEXT,
}

LIGHTNING_RULES = TRAINER_RULES | CALLBACK_RULES | LOGGER_RULES

# Cross-key rules: combinations in which Lightning silently ignores or overrides a value.
# (key, its limit): a value of key above the limit's is ignored (Lightning stops at the limit;
# trial 28 c56: min_epochs=5 max_epochs=1 trained 1 epoch); -1 or null lifts the limit.
AT_MOST: tuple[tuple[str, str], ...] = (
    ("trainer.min_epochs", "trainer.max_epochs"),
    ("trainer.min_steps", "trainer.max_steps"),
)
# (a schedule in epochs, the run's length): a schedule that would not end within the run is
# refused (trial 8 C21: model.warmup_epochs=1e9 with max_epochs=1 kept AGCH's learning rate
# near 0: the GCNs moved 0.0000 %, "completed"); -1 or null lifts the limit.
WITHIN_RUN: tuple[tuple[str, str], ...] = (("model.warmup_epochs", "trainer.max_epochs"),)
# (key, the key that replaces it when set): lightning/pytorch/trainer/setup.py
# ``_init_debugging_flags`` replaces the train and validation limits by overfit_batches > 0,
# and every limit and val_check_interval by fast_dev_run.
OVERRIDDEN_BY: tuple[tuple[str, str], ...] = (
    ("trainer.limit_train_batches", "trainer.overfit_batches"),
    ("trainer.limit_val_batches", "trainer.overfit_batches"),
    ("trainer.limit_train_batches", "trainer.fast_dev_run"),
    ("trainer.limit_val_batches", "trainer.fast_dev_run"),
    ("trainer.limit_test_batches", "trainer.fast_dev_run"),
    ("trainer.val_check_interval", "trainer.fast_dev_run"),
)
