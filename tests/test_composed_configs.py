"""Every command of the snapshot still composes to the same values, key by key.

The snapshot (tests/data/composed_configs.json) was made before the configs were composed from
shared bases. After a default is changed on purpose, regenerate it (the docstring of
tests/config_snapshot.py says how) and commit the diff with the change.
"""

import json

import pytest
from config_snapshot import CONFIGS, SNAPSHOT, commands, composed, flatten
from hydra.core.hydra_config import HydraConfig
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

RECORDED = json.loads(SNAPSHOT.read_text())
# the peer methods with experiment files for all four data sets
PEERS = ("jdsh", "cmfh", "dgcpn")
REGENERATE = "regenerate with `python tests/config_snapshot.py` if the change is on purpose"


def differences(expected: dict, actual: dict) -> list[str]:
    """One line per dotted key whose value or type differs, is missing or is new."""
    want, got = flatten(expected), flatten(actual)
    lines = []
    for key in sorted(want.keys() | got.keys()):
        if key not in got:
            lines.append(f"{key}: missing (was {want[key]!r})")
        elif key not in want:
            lines.append(f"{key}: new ({got[key]!r})")
        elif (type(want[key]), want[key]) != (type(got[key]), got[key]):
            lines.append(f"{key}: {want[key]!r} -> {got[key]!r}")
    return lines


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_command_composes_as_recorded(name: str) -> None:
    entry = RECORDED[name]
    diff = differences(entry["composed"], composed(entry["config"], entry["overrides"]))
    assert not diff, f"{name}: " + "; ".join(diff) + f" ({REGENERATE})"


def test_every_option_is_recorded() -> None:
    """A new experiment or option gets its own entry, so later changes to it are seen too."""
    missing = sorted(set(commands()) - set(RECORDED))
    assert not missing, f"not in {SNAPSHOT.name}: {missing} ({REGENERATE})"


# (dataset, method) of every experiment base; the per-length files differ in code_length only.
# Every method of the bench has experiments on every data set (tests/test_bench_command.py)
BASES = [
    (d, m)
    for d in ("mirflickr", "wiki", "nuswide", "uci", "news")
    for m in ("agch", "djsrh", "cca_itq", *PEERS, "ucch")
]


@pytest.mark.parametrize("dataset, method", BASES)
def test_code_length_sweep_is_one_command(dataset: str, method: str) -> None:
    """`-m experiment=<base> model.code_length=16,32,64,128` runs the four per-length configs."""
    base = f"{dataset}_{method}"
    parsed = OverridesParser.create().parse_overrides(
        [f"experiment={base}", "model.code_length=16,32,64,128"]
    )
    (jobs,) = BasicSweeper.split_arguments(parsed, None)  # one batch of four jobs
    assert len(jobs) == 4
    for overrides, bits in zip(jobs, (16, 32, 64, 128)):
        # the names recorded before the bases existed (MIRFlickr's were agch_<bits>bit)
        old = f"agch_{bits}bit" if base == "mirflickr_agch" else f"{base}_{bits}bit"
        diff = differences(
            RECORDED[f"train experiment={old}"]["composed"], composed("train", overrides)
        )
        assert not diff, f"{overrides}: {diff}"


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
def test_short_names_are_mirflickr(bits: int) -> None:
    short = composed("train", [f"experiment=agch_{bits}bit"])
    assert short == composed("train", [f"experiment=mirflickr_agch_{bits}bit"])
    assert (
        short["data"]["path"].endswith("/mirflickr.h5") and short["model"]["code_length"] == bits
    )


def test_differences_names_each_changed_key() -> None:
    before = {"model": {"alpha": 1, "ks": [1, 2]}, "seed": 0}
    after = {"model": {"alpha": 1.0, "ks": [1, 3], "new": None}}
    assert differences(before, after) == [
        "model.alpha: 1 -> 1.0",
        "model.ks: [1, 2] -> [1, 3]",
        "model.new: new (None)",
        "seed: missing (was 0)",
    ]
    assert differences(before, before) == []


def test_interpolated_tags_are_logged_resolved(tmp_path, monkeypatch) -> None:
    """The experiment tags interpolate the code length: what the loggers and tags.log get is
    the resolved value, as in the snapshot."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from src.utils.logging_utils import _plain
    from src.utils.rich_utils import enforce_tags, print_config_tree

    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", ["experiment=wiki_agch", "model.code_length=64"], True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as a task sees its config
    tags = _plain(cfg, "tags")  # the loggers stringify anything but plain values
    assert type(tags) is list and tags == ["wiki", "agch", "64bit"]
    enforce_tags(cfg, save_to_file=True)
    assert "64bit" in (tmp_path / "tags.log").read_text()
    print_config_tree(cfg, ["tags"], resolve=True, save_to_file=True)
    assert "- 64bit" in (tmp_path / "config_tree.log").read_text()
