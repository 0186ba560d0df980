"""Every flag of the scripts is checked before any work (issue 22, kind 5): generated bad
values per flag (negative, NaN, inf, text, empty, missing paths, a folder for a file...) are one
``error:`` line naming the flag, with what was expected, exit 2, no traceback, nothing written."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from config_snapshot import SNAPSHOT
from src.utils.config_rules import RULES, check_config
from src.utils.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(name: str, argv: list[str]) -> object:
    module = script(name)
    if hasattr(module, "build_parser"):
        return module.build_parser().parse_args(argv)
    return module.parse_args(argv)


def bad_values(kind: str, folder: Path) -> list[str]:
    """Values a flag of ``kind`` must refuse, generated: for "int>=N" the numbers below N and
    every text that is not a whole number; for paths the missing, the empty and the other
    kind of path."""
    if kind.startswith("int>="):
        low = int(kind[5:])
        below = [str(v) for v in range(low - 3, low)]
        return below + ["nan", "inf", "-inf", "abc", "1.5", "", "1e3", str(2**0.5)]
    missing = str(folder / "no" / "such")
    return {
        "file": [missing, str(folder), ""],
        "any": [missing, str(folder / "a_file" / "below"), ""],
        "dir": [missing, str(folder / "a_file"), ""],
        "device": ["abc", "cuda:x", "", "gpu0"],
        # a method: a name outside configs/model ("" is none, and allowed)
        "method": ["nosuchmethod", "AGCH", "agch ", "../agch", "agch,djsrh", "1"],
        "pair": ["a", "a:", ":b", ""],
        # overrides key=value joined by ',' ("" is the experiment as configured, and allowed)
        # a name joined to a folder: no separator, no "..", not empty
        "name": ["a/b", "../x", "..", ".", "", "/abs"],
        "overrides": ["model.lam", "model.lam=5,model.rho", "=5", "a b=1", ",", "model.lam=5,,x"],
        # outputs: a missing folder (never made), a folder for a file, a file for a folder
        "outfile": [f"{missing}.out", str(folder), f"{folder}/x/", f"{folder}/a_file/x", ""],
        "outdir": [str(folder / "a_file"), missing, str(folder / "a_file" / "sub"), ""],
    }[kind]


# (script, arguments before the flag, flag (None: positional), kind, arguments after)
FLAGS = [
    ("archive_results", [], None, "dir", []),
    ("code_stats", [], None, "file", []),
    ("code_stats", ["{file}"], "--topk", "int>=1", []),
    ("check_text_scaling", [], "--tags", "file", []),
    *(
        ("check_text_scaling", ["--tags", "{file}"], flag, kind, [])
        for flag, kind in [
            ("--n-train", "int>=2"),
            ("--epochs", "int>=1"),
            ("--image-dim", "int>=1"),
            ("--seed", "int>=0"),
        ]
    ),
    ("heldout_intervals", [], None, "dir", []),
    ("heldout_intervals", ["{dir}"], "--pair", "pair", []),
    ("prepare_data", ["wiki", "--source", "{dir}"], "--seed", "int>=0", []),
    ("prepare_data", ["uci", "--source", "{dir}"], "--val-size", "int>=1", []),
    ("prepare_data", ["news", "--source", "{dir}"], "--vocab-size", "int>=1", []),
    ("prepare_data", ["mirflickr", "--source", "{dir}"], "--batch-size", "int>=1", []),
    ("prepare_data", ["mirflickr", "--source", "{dir}"], "--weights", "file", []),
    ("prepare_data", ["nuswide", "--source", "{dir}"], "--device", "device", []),
    *(
        ("prepare_data", ["arrays", *paths], flag, "int>=1", [])
        for paths in [["--image", "{file}", "--text", "{file}", "--labels", "{file}"]]
        for flag in ("--query-size", "--train-size")
    ),
    *(
        ("prepare_data", ["arrays", *paths], flag, "file", [])
        for paths in [["--image", "{file}", "--text", "{file}", "--labels", "{file}"]]
        for flag in ("--image", "--text", "--labels")
    ),
    ("extract_features", ["--out", "{dir}/x.npy"], "--images", "any", []),
    *(
        ("extract_features", ["--images", "{dir}", "--out", "{dir}/x.npy"], flag, kind, [])
        for flag, kind in [
            ("--batch-size", "int>=1"),
            ("--weights", "file"),
            ("--device", "device"),
        ]
    ),
    ("report", ["{dir}"], "--update", "file", []),
    ("report", ["{dir}"], "--out", "outfile", []),  # an existing one: test_existing_outputs
    ("report", ["{dir}"], "--plots-dir", "outdir", []),
    ("archive_results", ["{dir}"], "--dest", "outdir", []),
    ("show_retrieval", ["{file}"], "--out", "outfile", []),
    ("show_retrieval", [], None, "file", []),
    ("show_retrieval", ["{file}"], "--store", "file", []),
    ("show_retrieval", ["{file}"], "--queries", "int>=1", []),
    ("show_retrieval", ["{file}"], "--top", "int>=1", []),
    ("show_retrieval", ["{file}"], "--seed", "int>=0", []),
    ("extract_features", ["--images", "{dir}"], "--out", "outfile", []),
    ("prepare_data", ["wiki", "--source", "{dir}"], "--out", "outfile", []),
    ("report", ["{dir}"], "--paper", "file", []),
    ("report", ["{dir}"], "--margins", "method", []),
    ("report", ["{dir}"], "--selection-ref", "overrides", []),
    ("report", ["{dir}"], "--tasks", "name", []),
    *(
        ("prepare_data", ["arrays", *paths], "--name", "name", [])
        for paths in [["--image", "{file}", "--text", "{file}", "--labels", "{file}"]]
    ),
]


def cases() -> list[tuple]:
    return [(*flag, index) for flag in FLAGS for index in range(len(bad_values(flag[3], ROOT)))]


@pytest.mark.parametrize("name, before, flag, kind, after, index", cases())
def test_a_bad_flag_is_one_line_naming_it(
    tmp_path: Path,
    capsys,
    monkeypatch,
    name: str,
    before: list,
    flag,
    kind: str,
    after: list,
    index: int,
) -> None:
    monkeypatch.setattr(sys, "argv", [str(ROOT / "scripts" / f"{name}.py")])  # the usage's name
    (tmp_path / "a_file").write_text("x")
    value = bad_values(kind, tmp_path)[index]
    fill = {"{file}": str(tmp_path / "a_file"), "{dir}": str(tmp_path)}
    argv = [fill.get(a, a.replace("{dir}", str(tmp_path))) for a in before]
    argv += ([flag, value] if flag else [value]) + after
    listing = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_:
        parse(name, argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: {name}.py") and ": argument " in line, line
    assert (flag or "") in line and "expected" in line and line.endswith("(see --help)"), line
    assert captured.out == "" and sorted(tmp_path.rglob("*")) == listing


def test_every_typed_flag_is_in_the_table() -> None:
    """A flag that takes a number or a path and is missing from FLAGS fails here (so a new one
    is generated too): every argument whose type is int/float/Path, or one of the checking
    types, in the scripts' parsers."""
    checked = {(name, flag) for name, _, flag, _, _ in FLAGS}
    for name in {entry[0] for entry in FLAGS}:
        for action in all_actions(script(name)):
            typed = action.type is not None and action.type is not str
            flag = action.option_strings[-1] if action.option_strings else None
            output = action.dest in ("dirs", "source")
            if typed and not output and action.type not in (int, float):
                assert (name, flag) in checked, (name, flag, action.type)
            assert action.type not in (int, float), (name, flag, "unchecked number")


def all_actions(module) -> list:
    import argparse

    parser = module.build_parser() if hasattr(module, "build_parser") else None
    if parser is None:  # report.py builds its parser inside parse_args
        captured = []
        original = argparse.ArgumentParser.parse_args
        argparse.ArgumentParser.parse_args = lambda self, argv=None: captured.append(self)
        try:
            module.parse_args([])
        finally:
            argparse.ArgumentParser.parse_args = original
        parser = captured[0]
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += sub._actions
    return actions


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["experiment=nope"], "experiment"),
        (["data.batchsize=3"], "data.batchsize"),
        (["model.rho=nan"], "model.rho"),
        (["model.gamma_v=-1"], "model.gamma_v"),
        (["data.path=/no/such/store.h5"], "data.path"),
    ],
)
def test_similarity_stats_overrides_are_checked(overrides: list[str], key: str) -> None:
    """similarity_stats.py takes train.py's overrides: a composition error, a bad model value
    or a missing store is one ConfigError/DataError naming the key, before any read."""
    module = script("similarity_stats")
    GlobalHydra.instance().clear()
    with pytest.raises((ConfigError, DataError)) as error:
        module.compose_checked(overrides)
    GlobalHydra.instance().clear()
    assert key in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_every_rule_of_an_eval_configuration_refuses_a_bad_value() -> None:
    """eval.py's values are train.py's RULES: each key present in the composed eval config,
    with a value its rule refuses (NaN, a negative, text...), is one line naming the key."""
    recorded = json.loads(SNAPSHOT.read_text())
    evals = [name for name in recorded if name.startswith("eval")]
    assert evals
    composed = recorded[evals[0]]["composed"]
    tried = 0
    for key, rule in RULES.items():
        *parents, last = key.split(".")
        parent = composed
        for part in parents:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or last not in parent:
            continue
        value = next(v for v in (math.nan, -7, "abc", None, [1]) if not rule.allows(v))
        saved, parent[last] = parent[last], value
        with pytest.raises(ConfigError, match=rf"^{key}: expected "):
            check_config(OmegaConf.create(composed))
        parent[last] = saved
        tried += 1
    assert tried >= 20


END_TO_END = [
    ("archive_results", ["{missing}"]),
    ("code_stats", ["{missing}"]),
    ("check_text_scaling", ["--tags", "{missing}"]),
    ("heldout_intervals", ["{missing}"]),
    ("prepare_data", ["wiki", "--source", "{dir}", "--seed", "-1"]),
    ("extract_features", ["--images", "{dir}", "--out", "{dir}/o.npy", "--batch-size", "nan"]),
    ("report", ["{dir}", "--paper", "{missing}"]),
    ("similarity_stats", ["model.rho=nan"]),
]


@pytest.mark.slow
def test_scripts_end_to_end(tmp_path: Path) -> None:
    """Each script as a user runs it, one bad value each, in parallel: exit 2, one line on
    stderr, nothing on stdout, no file written."""
    fill = {"{missing}": str(tmp_path / "missing"), "{dir}": str(tmp_path)}
    runs = {}
    for name, args in END_TO_END:
        argv = [fill.get(a, a.replace("{dir}", str(tmp_path))) for a in args]
        runs[name] = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *argv],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, process in runs.items():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 2, (name, err[-2000:])
        (line,) = err.splitlines()
        assert line.startswith("error: ") and out == "", (name, err, out)
    assert list(tmp_path.iterdir()) == []
