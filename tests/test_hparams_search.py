"""The Optuna search (configs/hparams_search/optuna.yaml): log-scale ranges inside the region
validated in docs/model.md, the code length left to the experiment, the held-out objective."""

from importlib.util import find_spec
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from src.models.losses import gap_weights

pytestmark = pytest.mark.skipif(
    find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="hydra-optuna-sweeper is the optional [sweep] extra",
)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# docs/model.md, evidence table: weights of the gap means that trained (0.1, 0.3) and the one
# that degraded (1; 5 collapsed) on Wiki and UCI validation queries
GAP_WEIGHT_TRAINED, GAP_WEIGHT_DEGRADED = 0.1, 1.0
# the paper's alpha and beta on every dataset (Wiki 0.4, 0.3; the others 1, 1)
PAPER_ALPHA_BETA = (0.3, 0.4, 1.0)


def compose_search(experiment: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        overrides = ["hparams_search=optuna", f"experiment={experiment}"]
        return compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)


def distributions(cfg) -> dict:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import (
        create_optuna_distribution_from_override,
    )

    parser = OverridesParser.create()
    return {
        key: create_optuna_distribution_from_override(parser.parse_override(f"{key}={value}"))
        for key, value in cfg.hydra.sweeper.params.items()
    }


@pytest.mark.parametrize("experiment", ["wiki_agch_32bit", "uci_agch_32bit"])
def test_search_is_held_out_and_never_searches_the_code_length(experiment):
    cfg = compose_search(experiment)
    assert cfg.data.val_mode == "heldout"
    assert cfg.optimized_metric == "val/objective"
    assert cfg.hydra.sweeper.direction == "maximize"
    assert set(distributions(cfg)) == {"model.alpha", "model.beta", "model.lam"}
    assert cfg.model.code_length == 32  # the experiment's, untouched


@pytest.mark.parametrize("experiment", ["wiki_agch_32bit", "uci_agch_32bit"])
def test_ranges_are_log_scale_inside_the_validated_region(experiment):
    from optuna.distributions import LogUniformDistribution

    cfg = compose_search(experiment)
    dist = distributions(cfg)
    assert all(isinstance(d, LogUniformDistribution) for d in dist.values()), dist
    m = cfg.data.batch_size
    lam = dist["model.lam"]
    assert lam.low <= cfg.model.lam <= lam.high  # the experiment's lambda is searched around
    for scale in ("tuned", "paper"):
        low = gap_weights(lam.low, m, scale, cfg.model.tuned_lam_factor)[0]
        high = gap_weights(lam.high, m, scale, cfg.model.tuned_lam_factor)[0]
        assert GAP_WEIGHT_TRAINED / 2 <= low and high < GAP_WEIGHT_DEGRADED, (scale, low, high)
    for key in ("model.alpha", "model.beta"):
        d = dist[key]
        assert d.low <= min(PAPER_ALPHA_BETA) and max(PAPER_ALPHA_BETA) <= d.high
        assert d.high / d.low <= 20  # around the paper's values, not a blind sweep


def test_search_space_keys_exist_in_the_model_config():
    search = OmegaConf.load(CONFIGS / "hparams_search" / "optuna.yaml")
    model = OmegaConf.load(CONFIGS / "model" / "agch.yaml")
    for key in search.hydra.sweeper.params:
        assert key.startswith("model.") and key.split(".", 1)[1] in model, key
