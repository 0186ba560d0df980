"""Checks of AGCH's hyper-parameters, run at construction: one line naming the key."""

from __future__ import annotations

from typing import Any

from src.models.hparam_rules import check_eval_hparams, check_rules
from src.models.components import GCN_BIASES
from src.models.losses import LOSS_SCALES
from src.models.similarity import ADJACENCIES, COMPONENTS, DISTANCES, GAMMA_MODES, SCALES

CHOICES = {
    "gamma_mode": GAMMA_MODES,
    "distance": DISTANCES,
    "s_scale": SCALES,
    "adjacency": ADJACENCIES,
    "similarity": COMPONENTS,
    "input_norm": ("standardize", "none"),
    "loss_scale": LOSS_SCALES,
    "gcn_bias": GCN_BIASES,
    "schedule": ("alternate", "joint"),
    "hash_grouping": ("design", "paper"),
    "optimizer": ("sgd", "adam"),
}


def check_hparams(hp: dict[str, Any]) -> None:
    """Raise `ConfigError` for the first impossible value (wrong type, sign or choice)."""
    check_eval_hparams(hp)
    check_rules(
        hp,
        positive_ints=("hidden_dim", "gcn_dim"),
        non_negative=(
            "alpha",
            "beta",
            "lam",
            "tuned_lam_factor",
            "delta",
            "gamma_v",
            "gamma_t",
            "momentum",
            "weight_decay",
            "warmup_epochs",
            "grad_clip",
        ),
        positive=("rho", "lr_image", "lr_text", "lr_fusion", "lr_hash", "lr_gcn"),
        bools=("use_fusion", "use_gcn", "fused_optimizer"),
        choices=CHOICES,
    )
