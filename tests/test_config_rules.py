"""Every configuration value is checked at the door (issue 22, kind 5): generated bad values for
every declared key and every method's hyper-parameters, Hydra's composition errors as one line,
and every shipped configuration still accepted."""

import copy
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from config_snapshot import CONFIGS, SNAPSHOT

from src.data.sources import read_list_classes
from src.models.agch_module import AGCHModule
from src.models.cca_itq import CCAITQModule
from src.models.djsrh_module import DJSRHModule
from src.models.ucch_module import UCCHModule
from src.utils import jobs
from src.utils.config_rules import RULES, Rule, check_config
from src.utils.errors import ConfigError, DataError

RECORDED = json.loads(SNAPSHOT.read_text())
BASE = RECORDED["train"]["composed"]
# values of every kind a user can type on the command line, as Hydra parses them
CANDIDATES = [
    *("abc", "", "auto", "warn", "32-true", "16-mixed", "max", "official", "float16", "1"),
    *("..", ".", "a/b", "gloo", "ddp", "step", "{val/map@50}", "ep_{epoch}"),
    *(None, True, False, [1], ["a"], {"a": 1}),
    *(-2, -1, 0, 1, 2, 3, 2**32 - 1, 2**32, 32768),
    *(0.0, 0.5, 1.0, 1.5, -0.5, math.nan, math.inf, -math.inf),
]


def oracle(rule: Rule, value: object) -> bool:
    """Whether `value` keeps `rule`, written apart from `Rule.allows` (a plain reading of the
    rule's definition)."""
    if value is None and rule.nullable:
        return True
    if any(type(value) is type(x) and value == x for x in rule.also):
        return True
    kind = rule.kind
    if kind == "any_of":
        return any(oracle(option, value) for option in rule.options)
    if kind == "pattern":  # a file-name pattern: its text outside the {fields} a plain name
        return type(value) is str and oracle(Rule("name"), re.sub(r"\{[^{}]*\}", "x", value))
    if kind in ("bool", "str", "text", "name", "folder", "target", "list_str"):
        return {
            "bool": type(value) is bool,
            "str": type(value) is str and len(value) > 0,
            "text": type(value) is str,
            # a plain name: one path component that is neither "." nor ".."
            "name": type(value) is str
            and value not in ("", ".", "..")
            and os.path.basename(value) == value
            and "\\" not in value,
            # the candidates are relative names, makeable here (test_object_rules.py tries
            # the file-system part)
            "folder": type(value) is str and len(value) > 0,
            "target": type(value) is dict and type(value.get("_target_")) is str,
            "list_str": type(value) is list and all(type(x) is str for x in value),
        }[kind]
    if kind == "choice":
        return any(type(value) is type(x) and value == x for x in rule.choices)
    if type(value) not in (int, float) or (kind == "int" and type(value) is not int):
        return False
    if math.isnan(value) or math.isinf(value):
        return False
    if kind == "fraction":
        return 0 <= value <= 1 if type(value) is float else value >= 0
    if kind == "interval":
        return 0 < value <= 1 if type(value) is float else value >= 1
    low = -math.inf if rule.low is None else rule.low
    high = math.inf if rule.high is None else rule.high
    return low <= value <= high


def with_value(key: str, value: object) -> OmegaConf:
    tree = copy.deepcopy(BASE)
    node = tree
    *parents, last = key.split(".")
    for depth, part in enumerate(parents):
        # a parent with a rule of its own (trainer.strategy) is a mapping that builds a target
        parent = ".".join(parents[: depth + 1])
        node = node.setdefault(part, {"_target_": "a.Target"} if parent in RULES else {})
    node[last] = value
    return OmegaConf.create(tree)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_shipped_configuration_is_accepted(name: str) -> None:
    check_config(OmegaConf.create(RECORDED[name]["composed"]))


@pytest.mark.parametrize("key", sorted(RULES))
def test_every_declared_key_refuses_what_its_rule_does_not_allow(key: str) -> None:
    """Each of ~30 generated values: the rule allows it exactly when the oracle does; three
    refused ones (drawn per key), set in a whole configuration, are one ConfigError line
    naming the key and the value."""
    rule = RULES[key]
    refused = [value for value in CANDIDATES if not oracle(rule, value)]
    for value in CANDIDATES:
        assert rule.allows(value) == oracle(rule, value), (key, value)
    rng = np.random.default_rng(sorted(RULES).index(key))
    for index in rng.choice(len(refused), 3, replace=False):
        value = refused[index]
        with pytest.raises(ConfigError) as error:
            check_config(with_value(key, value))
        message = str(error.value)
        assert message.startswith(f"{key}: expected ") and repr(value) in message, message
        assert "\n" not in message


METHODS = {
    "agch": AGCHModule,
    "djsrh": DJSRHModule,
    "cca_itq": CCAITQModule,
    "ucch": UCCHModule,
}
BAD = {
    "positive_ints": ["abc", 0, -1, 1.5, True, None],
    "non_negative_ints": ["abc", -1, 1.5, True, None],
    "below_one": ["abc", -0.1, 1.0, math.nan, math.inf],
    "optional_positive": ["abc", 0, -1.0, math.nan, math.inf],
    "non_negative": ["abc", -0.1, math.nan, math.inf, True],
    "positive": ["abc", 0, -1, math.nan, math.inf, -math.inf],
    "unit_interval": ["abc", -0.1, 1.1, math.nan, math.inf],
    "bools": ["abc", 0, 1, None],
}


def model_cases() -> list[tuple[str, str, object]]:
    """Three bad values per key of every method's RULES (nan and inf always among them for the
    real-valued keys), drawn with a fixed seed, and the evaluation keys' limits."""
    cases = [("agch", "code_length", 32768), ("agch", "eval_topk", 0), ("djsrh", "eval_ks", [])]
    rng = np.random.default_rng(22)
    for name, cls in METHODS.items():
        for group, keys in cls.RULES.items():
            for key in keys:
                if group == "at_most":  # an integer's largest value: just above it and far
                    bad = [keys[key] + 1, 2 * keys[key], 10**6]
                else:
                    bad = BAD.get(group) or [
                        v for v in ("no_such_option", 3, None, 1.5) if v not in keys[key]
                    ]
                drawn = [bad[i] for i in rng.choice(len(bad), 3, replace=False)]
                if group in ("non_negative", "positive", "unit_interval"):
                    drawn = [math.nan, math.inf, drawn[0]]
                cases += [(name, key, value) for value in drawn]
    return cases


@pytest.mark.parametrize("method, key, value", model_cases())
def test_model_values_are_checked_before_any_work(method: str, key: str, value: object) -> None:
    """Every key of every method's RULES, with generated bad values (inf and nan included),
    is refused by check_config, naming model.<key> -- not reported later as divergence."""
    model = copy.deepcopy(RECORDED[f"train model={method}"]["composed"])
    model["model"][key] = value
    with pytest.raises(ConfigError, match=rf"^model\.{key}: expected "):
        check_config(OmegaConf.create(model))


def compose_train(overrides: list[str]) -> None:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            compose(config_name="train", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "override",
    [
        "experiment=nope",
        "data=nope",
        "model=nope",
        "trainer=nope",
        "data.batchsize=3",
        "logger=null",
        "callbacks=null",
        "data.batch_size=[",
        "+data=wiki",
    ],
)
def test_composition_errors_are_one_line(monkeypatch, capsys, override: str) -> None:
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(jobs, "_JOB_STARTED", False)
    # run_cli reads the command line: give it train.py's with the override, not pytest's flags
    monkeypatch.setattr(sys, "argv", ["train.py", override])
    with pytest.raises(SystemExit) as exit_:
        jobs.run_cli(lambda: compose_train([override]))
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: command line: ") and "Traceback" not in line
    key = override.split("=")[0].lstrip("+")
    assert key in line or "nope" in line, line


def test_errors_of_a_started_job_are_not_hidden(monkeypatch) -> None:
    """After the job started, run_cli lets a bug's traceback through (run_job handles the
    job's user errors)."""
    monkeypatch.setattr(jobs, "_JOB_STARTED", True)
    monkeypatch.setattr(sys, "argv", ["train.py"])  # run_cli reads the command line, not pytest's
    with pytest.raises(ZeroDivisionError):
        jobs.run_cli(lambda: 1 / 0)


DIGITS = [c for c in map(chr, range(0x80, 0x3000)) if c.isdigit()]


def test_a_class_in_any_unicode_digit_is_one_error_line(tmp_path: Path) -> None:
    """Classes written with the ~100 non-ASCII characters that str.isdigit accepts ('²',
    '٣', '３'...): one DataError naming the list file and line, never int()'s ValueError."""
    assert len(DIGITS) > 50
    path = tmp_path / "list.txt"
    for index, digit in enumerate(DIGITS):
        path.write_text(f"a b 1\nt{index} i{index} {digit}\n", encoding="utf-8")
        with pytest.raises(DataError) as error:
            read_list_classes(path, 10)
        assert str(error.value).startswith(f"{path} [line 2]"), digit
    path.write_text("a b 1\nc d 10\n", encoding="utf-8")
    assert read_list_classes(path, 10).tolist() == [1, 10]


def test_a_missing_image_file_says_how_to_name_one(tmp_path: Path) -> None:
    from src.data.images import image_file_path

    with pytest.raises(DataError, match="--image-file FILE") as error:
        image_file_path(tmp_path, "features.mat", "images.mat", None)
    assert str(error.value).startswith(str(tmp_path / "features.mat"))


LINE = r"^error: (?P<key>[\w.]+): expected (?P<expected>.+), got (?P<value>.+)$"
# a refused value of each key of AGCH's RULES: NaN for the real-valued groups, text elsewhere
AGCH_BAD = {
    f"model.{key}": math.nan if group in ("non_negative", "positive") else "abc"
    for group, keys in AGCHModule.RULES.items()
    for key in keys
}


@pytest.mark.parametrize("key", sorted(RULES) + sorted(AGCH_BAD))
def test_the_error_line_of_every_rule_has_the_shape(key: str, capsys) -> None:
    """As a user sees it (`one_line_errors`, exit 2): for every key of RULES and of AGCH's
    RULES, a refused value gives exactly ``error: <key>: expected <what>, got <value>``; for
    RULES, <what> is the rule's own words and <value> the value's repr."""
    import re

    from src.utils.errors import one_line_errors

    rule = RULES.get(key)
    if rule is None:
        value = AGCH_BAD[key]
        config = copy.deepcopy(RECORDED["train model=agch"]["composed"])
        config["model"][key.split(".", 1)[1]] = value
    else:
        value = next(v for v in CANDIDATES if not oracle(rule, v))
        config = with_value(key, value)
    with pytest.raises(SystemExit) as exit_, one_line_errors():
        check_config(OmegaConf.create(config))
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    match = re.match(LINE, line)
    assert match and match["key"] == key and match["value"] == repr(value), line
    if rule is not None:
        assert match["expected"] == rule.expected(), line
