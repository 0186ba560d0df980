"""A quoted number is a string, refused where a rule wants a number (sixth trial: was
``+trainer.val_check_interval='5'`` taken as 5?). Hydra gives a str for a quoted value
(``key='5'`` as Hydra sees it; a shell strips the quotes of an unescaped ``key='5'``, and Hydra
then sees 5); one mechanism, `Rule.check`, refuses it for every numeric key of `RULES` and of
every method's ``RULES`` with the expected type, never converts it. Generated over those keys."""

import importlib

import pytest
import yaml

from door import ROOT, door
from src.utils.config_rules import RULES, Rule
from src.models.checks import check_rules
from src.utils.errors import ConfigError

NUMERIC = ("int", "real", "fraction", "interval")


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def numeric_value(rule: Rule) -> int | float | None:
    """A number ``rule`` allows (its low bound, 1 or 0.5), or None when it takes none."""
    for value in (rule.low, 1, 0.5, 0, rule.high):
        if value is not None and not isinstance(value, str) and rule.allows(value):
            return value
    return None


# each numeric kind of src/models/checks.py check_rules and a number it allows
METHOD_KINDS = {
    "positive_ints": 2,
    "non_negative_ints": 0,
    "non_negative": 0.5,
    "positive": 0.5,
    "unit_interval": 0.5,
    "below_one": 0.5,
    "optional_positive": 0.5,
}


def method_numbers() -> list[tuple[str, str, object]]:
    """(method class name, hyper-parameter, an allowed number) of every numeric rule of every
    method's ``RULES`` (configs/model/*.yaml's classes)."""
    found = []
    for path in sorted((ROOT / "configs" / "model").glob("*.yaml")):
        module, _, name = yaml.safe_load(path.read_text())["_target_"].rpartition(".")
        rules = getattr(importlib.import_module(module), name).RULES
        for kind, names in rules.items():
            found += [(kind, n, METHOD_KINDS[kind]) for n in names if kind in METHOD_KINDS]
    return found


def test_every_method_numeric_rule_refuses_the_number_quoted() -> None:
    """Each method's numeric hyper-parameter: its number passes, the quoted text is refused
    naming ``model.<name>`` and the string given."""
    tried = method_numbers()
    assert len(tried) >= 20
    for kind, name, value in tried:
        check_rules({name: value}, **{kind: (name,)})
        with pytest.raises(ConfigError) as error:
            check_rules({name: str(value)}, **{kind: (name,)})
        line = str(error.value)
        assert line.startswith(f"model.{name}: expected") and repr(str(value)) in line, line


def test_every_numeric_rule_refuses_the_number_quoted() -> None:
    """Each key whose rule allows a number: the number passes, its quoted text is refused
    with one line naming the key, the expected words of the rule and the string given."""
    tried = 0
    for key, rule in RULES.items():
        if not isinstance(rule, Rule):
            continue
        value = numeric_value(rule)
        if value is None or rule.allows("a_name"):  # a version may be any name: "1" too
            continue
        rule.check(key, value)
        with pytest.raises(ConfigError) as error:
            rule.check(key, str(value))
        line = str(error.value)
        assert line.startswith(f"{key}: expected") and repr(str(value)) in line, line
        tried += 1
    assert tried >= 30


def test_hydra_gives_a_quoted_number_as_a_string_and_the_door_refuses_it() -> None:
    """Through composition and `check_config`: ``key='5'`` (as Hydra receives it) is
    refused for keys at the top level, under trainer and under model."""
    for word in ("seed='1'", "trainer.max_epochs='5'", "+trainer.val_check_interval='5'"):
        line, _ = door([word])
        key = word.lstrip("+").split("=")[0]
        assert line is not None and line.startswith(f"{key}: expected"), (word, line)
        assert "got '" in line, line
