"""Values that pass their own rule but leave a run that trains (almost) nothing or ignores
them, refused at the door (trial 8): a schedule in epochs longer than the run
(`WITHIN_RUN`: C21 model.warmup_epochs=1e9), ``trainer.min_steps`` (T05b, silently ignored),
a last batch of 1 pair under ``data.drop_last=false`` (T10), and the advice for a key the
configuration lacks, which must never name a value its rule refuses (T03/T04)."""

from __future__ import annotations

import itertools
import random

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from src.utils.composed_keys import unknown_key_words
from src.utils.config_rules import RULES, check_cross_keys
from src.utils.errors import ConfigError
from src.utils.run_checks import check_machine, check_trains_something

RNG = random.Random(8)
WARMUPS = [0, 0.5, 1, 2, 3, 7.5, 10, 11, 100, 1e9]
EPOCHS = [1, 2, 3, 10, 50]


@pytest.mark.parametrize("warmup, epochs", list(itertools.product(WARMUPS, EPOCHS)))
def test_a_schedule_longer_than_the_run_is_refused(warmup: float, epochs: int) -> None:
    values = {"model": {"warmup_epochs": warmup}, "trainer": {"max_epochs": epochs}}
    if warmup <= epochs:
        check_cross_keys(values)
        return
    with pytest.raises(ConfigError, match=r"^model\.warmup_epochs: .* trainer\.max_epochs"):
        check_cross_keys(values)


@pytest.mark.parametrize("value", [1, 2, 62, 200, 10**6, None, 0, -1])
def test_min_steps_is_refused_not_ignored(value: int | None) -> None:
    rule = RULES.get("trainer.min_steps")
    assert rule is not None, "trainer.min_steps has no rule: any value is silently ignored"
    assert rule.allows(value) == (value in (None, 0, -1))
    if value not in (None, 0, -1):
        with pytest.raises(ConfigError, match=r"trainer\.max_epochs"):
            rule.check("trainer.min_steps", value)


def _drop_last_cases(n: int) -> list[tuple[int, int]]:
    """(training pairs, batch size): every remainder 1 case of the trial and drawn ones."""
    cases = [(1000, 999), (1000, 333), (1000, 3), (7, 2), (7, 3), (7, 6), (100, 99)]
    while len(cases) < n:
        batch = RNG.randint(2, 300)
        cases.append((batch * RNG.randint(1, 20) + RNG.choice([0, 1, 1, 2, batch - 1]), batch))
    return cases


@pytest.mark.parametrize("pairs, batch", _drop_last_cases(40))
def test_every_batch_formed_holds_two_pairs(pairs: int, batch: int) -> None:
    cfg = OmegaConf.create(
        {
            "trainer": {"max_epochs": 1, "devices": 1, "num_nodes": 1},
            "data": {"batch_size": batch, "drop_last": False},
            "model": {"_target_": "src.models.agch_module.AGCHModule"},
        }
    )
    if pairs % batch != 1:
        check_trains_something(cfg, {"train": pairs})
        return
    with pytest.raises(ConfigError, match=r"^data\.drop_last: .* last batch of 1 pair") as err:
        check_trains_something(cfg, {"train": pairs})
    advised = str(err.value).rsplit("data.batch_size=", 1)
    if len(advised) == 2:  # the advised size keeps every batch at 2 pairs or more
        assert pairs % int(advised[1]) != 1


def test_a_closed_form_method_may_collect_a_last_pair() -> None:
    cfg = OmegaConf.create(
        {
            "trainer": {"max_epochs": 1},
            "data": {"batch_size": 999, "drop_last": False},
            "model": {"_target_": "src.models.cca_itq.CCAITQModule"},
        }
    )
    check_trains_something(cfg, {"train": 1000})


ADDED = ["trainer.max_steps", "trainer.min_steps", "trainer.max_epochs", "trainer.num_nodes"]
VALUES = ["0", "-5", "-1", "1", "7", "2.5", "null", "abc"]


@pytest.mark.parametrize("key, value", list(itertools.product(ADDED[:2], VALUES)))
def test_advice_for_an_added_key_names_no_refused_value(key: str, value: str) -> None:
    words = unknown_key_words(key, [f"{key}={value}"], value)
    advised = f"+{key}={value} "
    typed = OverridesParser.create().parse_override(f"{key}={value}").value()
    if advised in words:
        assert RULES[key].allows(typed), f"advises a value the door refuses: {words}"
    else:
        assert not RULES[key].allows(typed) and f"{value} is not one" in words


def _process_cases() -> list[tuple[dict, bool]]:
    """(trainer settings on this CPU-only check, whether they must be refused): several
    processes without the project's DDP setup (trial 8 C12), -1 devices on a CPU."""
    setups = {
        "auto": ({"strategy": "auto"}, False),
        "ddp": ({"strategy": "ddp"}, False),
        "ddp_spawn": ({"strategy": "ddp_spawn", "use_distributed_sampler": False}, False),
        "sampler": ({"strategy": "ddp_find_unused_parameters_true"}, False),
        "ddp_preset": (
            {"strategy": "ddp_find_unused_parameters_true", "use_distributed_sampler": False},
            True,
        ),
        "ddp_sim": (
            {"strategy": {"find_unused_parameters": True}, "use_distributed_sampler": False},
            True,
        ),
    }
    cases = []
    for (setup, ok), devices, nodes in itertools.product(
        setups.values(), [1, 2, 3, 8, -1, "auto"], [1, 2]
    ):
        trainer = {"accelerator": "cpu", "devices": devices, "num_nodes": nodes} | setup
        many = (devices if isinstance(devices, int) and devices > 0 else 1) * nodes > 1
        # more than one node waits forever for nodes no launcher starts (trial 10 F2)
        cases.append((trainer, devices == -1 or nodes > 1 or (many and not ok)))
    return cases


@pytest.mark.parametrize("trainer, refused", _process_cases())
def test_several_processes_need_the_ddp_setup(trainer: dict, refused: bool) -> None:
    if not refused:
        check_machine(OmegaConf.create(trainer))
        return
    key = "num_nodes" if trainer["num_nodes"] > 1 else "devices"
    with pytest.raises(ConfigError, match=rf"^trainer\.{key}: "):  # the key that made several
        check_machine(OmegaConf.create(trainer))
