"""The bench command of docs/results.md (issue 24): one Hydra multirun per dataset,
``python src/train.py -m 'experiment=glob(<dataset>_*bit)' seed=0,1,2 logger=csv``, runs every
method at every code length and seed. The jobs are expanded by Hydra's own sweeper (its parser
and glob over the experiment group), as a multirun would launch them, and compared with a plain
listing of the config folders: every method (a file of configs/model/) has an experiment at
each code length on each dataset, and the glob picks those and nothing else."""

import itertools
import re
import shlex
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
DATASETS = ("wiki", "uci", "news", "mirflickr", "nuswide")
BITS = (16, 32, 64, 128)
SEEDS = (0, 1, 2)
# the documented command, one line per dataset
COMMAND = re.compile(r"^ *python src/train.py -m ('experiment=glob\((\w+)_\*bit\)' .*)$")


def documented(doc: str) -> dict[str, list[str]]:
    """The overrides of each bench command line in ``doc``, by dataset."""
    lines = (ROOT / doc).read_text().splitlines()
    return {m[2]: shlex.split(m[1]) for line in lines if (m := COMMAND.match(line))}


def hydra_jobs(overrides: list[str]) -> list[list[str]]:
    """The jobs of ``src/train.py -m <overrides>`` as Hydra's basic sweeper expands them."""
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONFIGS)))
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def test_every_method_has_every_code_length_on_every_dataset() -> None:
    """A plain listing: the experiment files named <dataset>_<method>_<bits>bit are exactly
    datasets x methods (configs/model/*.yaml) x 16/32/64/128."""
    methods = sorted(path.stem for path in (CONFIGS / "model").glob("*.yaml"))
    names = {path.stem for path in (CONFIGS / "experiment").glob("*.yaml")}
    per_bits = {n for n in names if n.split("_")[0] in DATASETS and n.endswith("bit")}
    expected = {f"{d}_{m}_{b}bit" for d in DATASETS for m in methods for b in BITS}
    assert per_bits == expected, (sorted(expected - per_bits), sorted(per_bits - expected))


def test_the_documented_command_runs_methods_x_bits_x_seeds() -> None:
    commands = documented("docs/results.md")
    assert sorted(commands) == sorted(DATASETS)
    readme = documented("README.md")
    assert readme and all(readme[d] == commands[d] for d in readme)
    methods = sorted(path.stem for path in (CONFIGS / "model").glob("*.yaml"))
    for dataset, overrides in commands.items():
        jobs = hydra_jobs(overrides)
        rest = [o for o in overrides if not o.startswith(("experiment=", "seed="))]
        expected = [
            sorted([f"experiment={dataset}_{m}_{b}bit", f"seed={s}", *rest])
            for m, b, s in itertools.product(methods, BITS, SEEDS)
        ]
        assert sorted(sorted(job) for job in jobs) == sorted(expected), dataset


@pytest.mark.slow
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_bench_job_composes(dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job composes as the multirun composes it before launching (no training): its
    model, code length, data and seed are those its name says."""
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONFIGS)))
    for job in hydra_jobs(documented("docs/results.md")[dataset]):
        cfg = loader.load_configuration("train.yaml", overrides=job, run_mode=RunMode.MULTIRUN)
        values = dict(o.split("=", 1) for o in job)
        method, bits = values["experiment"][len(dataset) + 1 :].rsplit("_", 1)
        choices = cfg.hydra.runtime.choices
        assert (choices["model"], choices["data"]) == (method, dataset), job
        assert cfg.model.code_length == int(bits[: -len("bit")]), job
        assert cfg.seed == int(values["seed"]) and Path(cfg.data.path).name == f"{dataset}.h5"
