"""A run whose model does not fit in memory is refused at the door, before any allocation
(src/utils/memory_need.py; trial 12 H5: ``model.hidden_dim=100000000`` was an 82-line
"can't allocate memory" traceback, 2000000 ran until the kernel killed it).

Generated: every method (configs/model/*.yaml) x every key that sizes it (its declared
``SIZE_KEYS`` and the synthetic feature dimensions), pushed by doubling to a value that needs
about 1 TiB (or to the key's largest allowed value), is refused naming that key, in train.py's
door and in a sweep's per-job door; the defaults and moderate values are accepted; a key that
sizes a method's networks but is not declared is found. Nothing is allocated: the models are
built on the meta device and the memory available is fixed here."""

from __future__ import annotations

import functools

import pytest
from omegaconf import OmegaConf

from door import ROOT, composed_run
from test_sweep_door import door as sweep_door

from src.models.checks import MAX_CODE_LENGTH
from src.models.ucch_module import MAX_LAYERS
from src.train import train_door
from src.utils import memory_need
from src.utils.errors import ConfigError
from src.utils.memory_need import GIB, check_memory, model_need, model_setting

METHODS = sorted(p.stem for p in (ROOT / "configs" / "model").glob("*.yaml"))
TIB = 1024 * GIB
AVAILABLE = 64 * GIB  # what these tests say the machine has
CAPS = {"model.code_length": MAX_CODE_LENGTH, "model.image_layers": MAX_LAYERS}
CAPS["model.text_layers"] = MAX_LAYERS


def keys_of(method: str) -> list[str]:
    """The keys that size ``method``: its declared ``SIZE_KEYS`` and the synthetic dims."""
    cls, _ = model_setting(composed_run([f"model={method}"]))
    synthetic = ["data.synthetic.image_dim", "data.synthetic.text_dim"]
    return [f"model.{name}" for name in cls.SIZE_KEYS] + synthetic


CASES = [(method, key) for method in METHODS for key in keys_of(method)]


@functools.cache
def setting(method: str) -> tuple[type, dict, dict[str, int]]:
    """(class, hyper-parameters, configured value of each size key) of ``method``'s run."""
    cfg = composed_run([f"model={method}"])
    cls, hp = model_setting(cfg)
    return cls, hp, {key: int(OmegaConf.select(cfg, key)) for key in keys_of(method)}


def pushed(method: str, key: str) -> tuple[int, int]:
    """(value, need): ``key`` doubled from its configured value until ``method`` needs 1 TiB,
    or its largest allowed value."""
    cls, hp, values = setting(method)
    name, value = key.rpartition(".")[2], values[key]
    need = model_need(cls, hp, "32-true").bytes
    while True:  # a factor that reaches 1 TiB in a few steps, linear or quadratic in the key
        step = max(2, int((TIB / need) ** 0.5))
        value = min(value * step, CAPS.get(key, value * step))
        need = model_need(cls, hp | {name: value}, "32-true").bytes
        if need >= TIB or value == CAPS.get(key):
            return value, need


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The memory available, as a one-item list a test may change."""
    free = [AVAILABLE]
    monkeypatch.setattr(memory_need, "available_memory", lambda _: (free[0], "this machine has"))
    return free


@pytest.mark.parametrize(("method", "key"), CASES)
def test_a_size_key_needing_a_tib_is_refused_naming_it(method: str, key: str, machine) -> None:
    value, need = pushed(method, key)
    if key not in CAPS:
        assert need >= TIB, (method, key, value)
    machine[0] = min(AVAILABLE, need // 4)  # a capped key: a machine it does not fit
    cfg = composed_run([f"model={method}", f"{key}={value}"])
    with pytest.raises(ConfigError) as refused:
        train_door(cfg)
    line = str(refused.value)
    assert line.startswith(f"{key}: {value} ({method} with "), line
    assert "GiB for its parameters, gradients and optimiser states" in line
    assert "; expected a smaller model." in line and key in line.rpartition("expected")[2]
    assert "\n" not in line


@pytest.mark.parametrize("method", METHODS)
def test_the_defaults_and_moderate_values_are_accepted(method: str, machine) -> None:
    check_memory(composed_run([f"model={method}"]))
    for key, value in setting(method)[2].items():
        check_memory(composed_run([f"model={method}", f"{key}={value * 2}"]))


def test_the_defaults_fit_this_machine() -> None:
    for method in METHODS:
        check_memory(composed_run([f"model={method}"]))


@pytest.mark.parametrize("method", METHODS)
def test_every_key_that_sizes_a_method_is_declared(method: str) -> None:
    """A positive integer hyper-parameter that grows the parameters or the fit's matrices
    when multiplied by 4 must be in the method's SIZE_KEYS."""
    cls, hp, _ = setting(method)
    base = model_need(cls, hp, "32-true").bytes
    undeclared = []
    for name, value in hp.items():
        if name in ("image_dim", "text_dim") or name in cls.SIZE_KEYS:
            continue
        if type(value) is not int or value <= 0:
            continue
        try:
            grown = model_need(cls, hp | {name: value * 4}, "32-true").bytes
        except ConfigError:  # a value its rule refuses
            continue
        if grown > 1.1 * base:
            undeclared.append(name)
    assert not undeclared, f"{cls.__name__}: {undeclared}"


def test_the_key_the_user_set_is_named_not_another(machine) -> None:
    """Two size keys set, one of them small: the one that makes the need is named."""
    cfg = composed_run(["model=agch", "model.hidden_dim=100000000", "model.code_length=16"])
    with pytest.raises(ConfigError, match=r"^model\.hidden_dim: 100000000 \(agch"):
        check_memory(cfg)


@pytest.mark.parametrize("method", ["agch", "ucch", "cca_itq"])
def test_a_sweep_job_needing_a_tib_is_refused_at_the_door(method: str, machine, capsys) -> None:
    key = keys_of(method)[0]
    value, need = pushed(method, key)
    machine[0] = min(AVAILABLE, need // 4)
    status, lines = sweep_door("train", [f"model={method}", f"{key}=8,{value}"], capsys)
    assert status == 2
    assert len(lines) == 1, lines
    assert f"job 2 of 2 ({key}={value}): {key}: {value} ({method} " in lines[0]
