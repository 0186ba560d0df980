"""How AGCH's reconstruction target S' = 2S - 1 looks on a dataset's training pairs.

For an experiment's similarity settings (gammas, rho, gamma_mode, distance, similarity) and
each ``s_scale``, over every pair i != j of the store's training items (labels used only
here, for the report, never in training): the fraction of pairs with S' < 0, among all
pairs, same-class pairs (sharing a label) and other pairs; and the largest deviation of D
from the function of C that it is with unit rows (docs/model.md, "Aggregated similarity").

    python scripts/similarity_stats.py experiment=wiki_agch_32bit

(docs/model.md records its output.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJECT_ROOT", str(ROOT))  # the configs' paths resolve against it

import h5py  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from src.data.loading import read_rows  # noqa: E402
from src.data.preflight import preflight_store  # noqa: E402
from src.data.store import read_split  # noqa: E402
from src.models.similarity import SCALES, aggregated_similarity  # noqa: E402
from src.utils.config_rules import check_config  # noqa: E402
from src.utils.errors import ArgumentParser, ConfigError, DataError, one_line_errors  # noqa: E402
from src.utils.composition_errors import composition_error  # noqa: E402

SCRIPT = Path(__file__).name  # starts each of its error lines (src/utils/errors.py)


def target_signs(S: torch.Tensor, same: torch.Tensor) -> dict[str, float]:
    """Fractions of off-diagonal pairs with 2S - 1 < 0: all, same-class and other pairs."""
    off = ~torch.eye(S.shape[0], dtype=torch.bool)  # (n, n)
    negative = 2.0 * S - 1.0 < 0
    groups = {"all": off, "same-class": off & same, "other": off & ~same}
    return {k: float(negative[mask].float().mean()) for k, mask in groups.items()}


def compose_checked(overrides: list[str]) -> DictConfig:
    """train.yaml with ``overrides``, checked as train.py checks them before any work:
    Hydra's composition errors (an unknown experiment, a misspelt key), every value by its rule
    and keys added with + (`check_config`), and the store as a run's pre-flight checks it
    (`preflight_store`: a synthetic store made with other parameters, NaN/Inf features or bad
    labels, a store of another dataset than data=...), each one ConfigError/DataError line;
    a store that does not exist yet (a synthetic one train.py would make) is a DataError."""
    try:
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
    except Exception as exc:  # Hydra raises several types for a bad command line
        raise ConfigError(composition_error(exc, overrides)) from exc
    with open_dict(cfg):  # no run folder: this script writes nothing
        cfg.hydra.runtime.output_dir = str(Path(tempfile.gettempdir()) / "similarity_stats")
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)  # the data= choice and the overrides, for the checks
    with open_dict(cfg):
        del cfg["hydra"]
    check_config(cfg)
    preflight_store(cfg)
    if not Path(cfg.data.path).is_file():
        raise DataError(
            cfg.data.path,
            "data.path",
            "expected an existing store file (a synthetic one is "
            "made by python src/train.py with the same overrides)",
        )
    return cfg


def main(argv: list[str]) -> int:
    """Print the statistics for train.py's overrides ``argv`` (``--help``/``-h``: the usage on
    stdout, exit 0); a bad input is one ``error:`` line and exit status 2
    (`one_line_errors`; an option other than the help is refused by `ArgumentParser`)."""
    parser = ArgumentParser(
        prog=SCRIPT, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="train.py's overrides: experiment=NAME, data=NAME, model.KEY=VALUE, ...",
    )
    overrides = parser.parse_args(argv).overrides
    with one_line_errors(SCRIPT):
        print_stats(compose_checked(overrides))
    return 0


def print_stats(cfg: DictConfig) -> None:
    """The fractions of negative targets per ``s_scale`` and the D-versus-C deviation."""
    rows = read_split(cfg.data.path, "train")
    with h5py.File(cfg.data.path, "r") as h5:
        image, text, label = (torch.as_tensor(a) for a in read_rows(h5, rows))
    same = (label.float() @ label.float().T) > 0  # (n, n): share a label
    hp = cfg.model
    args = (image, text, hp.gamma_v, hp.gamma_t, hp.rho, hp.gamma_mode, hp.distance)
    print(f"{cfg.data.path}: {rows.size} training items, gammas {hp.gamma_v}/{hp.gamma_t}")
    for scale in SCALES:
        S = aggregated_similarity(*args, scale, hp.similarity)  # (n, n)
        fractions = ", ".join(f"{k} {v:.3f}" for k, v in target_signs(S, same).items())
        print(f"s_scale={scale}: fraction of pairs with 2S-1 < 0: {fractions}")
    C = aggregated_similarity(*args, "none", "C")
    D = aggregated_similarity(*args, "none", "D")
    c_max = float(C.diagonal().max())
    f_of_C = torch.exp(-(2.0 * (c_max - C)).clamp_min(0.0).sqrt() / hp.rho)  # (n, n)
    print(f"max |D - exp(-sqrt(2 (max C - C)) / rho)| = {float((D - f_of_C).abs().max()):.2e}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
