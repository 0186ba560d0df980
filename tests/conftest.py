"""Shared fixtures: a tiny synthetic feature store, generated once per test session."""

import os
from pathlib import Path

import pytest

from src.data.synthetic import make_synthetic

# The configs resolve paths.root_dir from ${oc.env:PROJECT_ROOT}, which train.py / eval.py set
# when first imported (rootutils). Set once for the whole session, so that a test whose
# monkeypatch.setenv("PROJECT_ROOT", ...) is undone never leaves it unset for later tests (the
# result of a test must not depend on which test first imported src.train).
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

# Small enough for fast tests, big enough for several batches and every split non-empty.
TINY_SYNTHETIC = dict(
    n_items=400,
    n_query=50,
    n_train=200,
    n_val=50,
    image_dim=64,
    text_dim=48,
    n_classes=6,
    seed=0,
)


# The synthetic data of the end-to-end tests (src/train.py, src/eval.py, sweeps): generator
# arguments, and the same as overrides of configs/data/synthetic.yaml
TINY_DATA_PARAMS = dict(
    n_items=300, n_query=40, n_train=160, n_val=40, image_dim=32, text_dim=24, n_classes=5
)
TINY_DATA = [f"data.synthetic.{key}={value}" for key, value in TINY_DATA_PARAMS.items()]


@pytest.fixture
def synthetic_store_params() -> dict:
    """The `make_synthetic` arguments of `synthetic_store` (a fresh copy)."""
    return dict(TINY_SYNTHETIC)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a read-only tiny synthetic store (400 items, 64-d image, 48-d text, 6 classes).

    Shared by the whole session: copy it before changing it.
    """
    path = tmp_path_factory.mktemp("store") / "synthetic.h5"
    make_synthetic(path, **TINY_SYNTHETIC)
    return path


@pytest.fixture(autouse=True)
def _no_hydra_run_config_from_earlier_tests() -> None:
    """Tests that compose a run set Hydra's global run config (``HydraConfig().set_config``)
    and leave it set; code that asks for the run's choices (src/utils/records.py:
    ``data=...``) would then read another test's run. Each test starts without one."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None
