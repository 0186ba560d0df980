"""A resume keeps the settings its checkpoint was trained with (issue 22, second trial: a
changed ``model.loss_scale`` was accepted and recorded). Generated sets of changed values,
judged by a rule written out here: refused exactly when a value that changes what is computed
differs, naming each such key with both values; the overrides the line gives resume it."""

import re

import hydra
import numpy as np
import pytest
from omegaconf import OmegaConf

from config_snapshot import composed

from src.utils.errors import ConfigError
from src.utils.resume_checks import check_same_settings, run_settings, trained_hparams

BASE = ["model.code_length=16", "model.hidden_dim=32", "model.gcn_dim=16", "trainer=cpu"]
DIMS = dict(image_dim=12, text_dim=10)
# (override, keys it changes that a resume must keep) -- the written-out rule
COMPUTING = {
    "model.loss_scale=paper": {"model.loss_scale"},
    "model.alpha=2.0": {"model.alpha"},
    "model.eval_topk=40": {"model.eval_topk"},
    "data.batch_size=16": {"data.batch_size"},
    "seed=3": {"seed", "data.seed"},
    "data.seed=5": {"data.seed"},
    "trainer.precision=bf16-mixed": {"trainer.precision"},
    "+trainer.limit_train_batches=0.5": {"trainer.limit_train_batches"},
    "data.synthetic.n_items=500": {"data.synthetic.n_items"},
    "data.val_mode=heldout": {"data.val_mode"},
    "callbacks.model_checkpoint.mode=min": {"callbacks.model_checkpoint.mode"},
}
NEUTRAL = [
    "trainer.max_epochs=9",
    "data.num_workers=1",
    "data.cache_in_memory=false",
    "paths.log_dir=/tmp/elsewhere",
    "logger=csv",
    "extras.print_config=false",
    "callbacks.model_checkpoint.last_every_n_epochs=2",
    "+trainer.enable_progress_bar=false",
]


def config(overrides: list[str]):
    return OmegaConf.create(composed("train", [*BASE, *overrides]))


def trained(overrides: list[str]) -> dict:
    """A checkpoint's model hyper-parameters and run settings, as train.py writes them."""
    cfg = config(overrides)
    model = hydra.utils.instantiate(cfg.model, **DIMS)
    return {"hyper_parameters": dict(model.hparams), "run_settings": run_settings(cfg)}


def check(checkpoint: dict, overrides: list[str]) -> None:
    cfg = config(overrides)
    check_same_settings(cfg, hydra.utils.instantiate(cfg.model, **DIMS), checkpoint, "x.ckpt")


def test_a_resume_is_refused_exactly_when_a_computing_value_differs() -> None:
    """20 generated pairs (trained with, resumed with) of override sets: refused iff the rule
    finds a key that differs; the line names each such key with both values and no neutral
    key; the overrides it gives, added to the resume, make it accepted."""
    rng = np.random.default_rng(26)
    checkpoint = trained([])
    for case in range(20):
        chosen = [o for o in COMPUTING if rng.random() < 0.15]
        chosen += [o for o in NEUTRAL if rng.random() < 0.3]
        expected = set().union(*(COMPUTING[o] for o in chosen if o in COMPUTING))
        if not expected:
            check(checkpoint, chosen)
            continue
        with pytest.raises(ConfigError) as error:
            check(checkpoint, chosen)
        line = str(error.value)
        assert line.startswith("ckpt_path: x.ckpt: expected the settings") and "\n" not in line
        named = set(re.findall(r"(?:; |\()([\w.]+): ", line))
        assert named == expected, (chosen, line)
        give = line.split("; give ", 1)[1].split(" to go on with it")[0].split()
        check(checkpoint, [*chosen, *give])  # the line's overrides resume the run as it was


def test_extending_a_run_changes_no_setting() -> None:
    """trainer.max_epochs (and every neutral key, each alone and all together) may change."""
    checkpoint = trained([])
    for chosen in [[o] for o in NEUTRAL] + [NEUTRAL]:
        check(checkpoint, chosen)


def test_a_checkpoint_without_run_settings_is_compared_on_its_model() -> None:
    """Written before checkpoints carried run_settings: another seed passes (unrecorded), a
    model value does not."""
    checkpoint = trained([])
    del checkpoint["run_settings"]
    check(checkpoint, ["seed=3", "data.batch_size=16"])
    with pytest.raises(ConfigError, match=r"model\.alpha: 1\.0 in the checkpoint, 2\.0 now"):
        check(checkpoint, ["model.alpha=2.0"])


def test_an_option_newer_than_the_checkpoint_takes_its_rebuilt_value() -> None:
    """AGCH rebuilds a checkpoint written before loss_scale/gcn_lr_on existed as it was
    trained (loss_scale 'tuned' with factor 1, gcn_lr_on 'L'): a resume must give those."""
    cfg = config([])
    model = hydra.utils.instantiate(cfg.model, **DIMS)
    saved = {k: v for k, v in model.hparams.items() if k not in ("loss_scale", "gcn_lr_on")}
    saved.pop("tuned_lam_factor")
    checkpoint = {
        "hyper_parameters": saved,
        "state_dict": model.state_dict(),
        "run_settings": run_settings(cfg),
    }
    rebuilt = trained_hparams(model, checkpoint)
    assert (rebuilt["loss_scale"], rebuilt["tuned_lam_factor"], rebuilt["gcn_lr_on"]) == (
        "tuned",
        1.0,
        "L",
    )
    with pytest.raises(ConfigError) as error:
        check(checkpoint, [])
    line = str(error.value)
    assert "model.gcn_lr_on: 'L' in the checkpoint, 'L2' now" in line, line
    give = line.split("; give ", 1)[1].split(" to go on with it")[0].split()
    assert sorted(give) == ["model.gcn_lr_on=L", "model.tuned_lam_factor=1.0"]
    check(checkpoint, give)
