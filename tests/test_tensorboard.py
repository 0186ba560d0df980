"""TensorBoard output of a tiny run, read back from the event files: scalars, P@k/PR figures,
bit-balance histograms and the HPARAMS entry with the final metrics; curves.json."""

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from conftest import TINY_DATA

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    *TINY_DATA,
    "model.code_length=16",
    "model.hidden_dim=32",
    "model.gcn_dim=16",
    "model.eval_ks=[1,10,100]",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "logger=tensorboard",
    "extras.print_config=false",
    "extras.enforce_tags=false",
    "callbacks.retrieval_figures.validation=true",  # off by default: figures at the end only
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output directory of a 2-epoch tiny run logged to TensorBoard."""
    from src.train import train

    tmp = tmp_path_factory.mktemp("tb")
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        overrides = [f"data.path={tmp / 'tiny.h5'}", *TINY]
        cfg = compose("train.yaml", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = cfg.paths.output_dir = str(tmp / "run")
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    train(cfg)
    return tmp / "run"


@pytest.fixture(scope="module")
def events(run_dir: Path) -> EventAccumulator:
    """Every event of the run (all images, histograms, scalars, plugin data)."""
    (version,) = (run_dir / "tensorboard").iterdir()
    guidance = {"images": 0, "histograms": 0, "scalars": 0, "tensors": 0}
    accumulator = EventAccumulator(str(version), size_guidance=guidance)
    accumulator.Reload()
    return accumulator


def test_scalars_of_training_and_evaluation(events: EventAccumulator) -> None:
    scalars = events.Tags()["scalars"]
    for prefix in ("train/loss_f", "train/loss_b", "train/L1", "train/L3"):
        assert any(tag.startswith(prefix) for tag in scalars), prefix
    assert "val/map@50" in scalars and "test/map@50" in scalars
    # the HPARAMS metrics have their own tags: the val/ curve keeps one point per epoch
    assert len(events.Scalars("val/map@50")) == 2


def test_curve_figures_at_each_evaluation(events: EventAccumulator) -> None:
    images = events.Tags()["images"]
    for tag in ("val/curve_p@k", "val/curve_pr", "test/curve_p@k", "test/curve_pr"):
        assert tag in images, tag
    assert len(events.Images("val/curve_pr")) == 2  # one per validation
    assert events.Images("test/curve_pr")[0].encoded_image_string.startswith(b"\x89PNG")


def test_bit_balance_histograms_per_epoch(events: EventAccumulator) -> None:
    for name in ("image", "text"):
        histograms = events.Histograms(f"train/bit_mean_{name}")
        assert len(histograms) == 2
        values = histograms[0].histogram_value
        assert values.num == 16  # one mean per bit
        assert -1.0 <= values.min <= values.max <= 1.0


def test_hparams_entry_carries_the_final_metrics(events: EventAccumulator, run_dir: Path) -> None:
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_tags = {info.name.tag for info in experiment.experiment.metric_infos}
    assert {"hparams/val/map@50", "hparams/test/map@50", "hparams/test/i2t_map@all"} <= metric_tags
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model/code_length"].number_value == 16
    assert hparams["dataset"].string_value == "synthetic"
    results = json.loads((run_dir / "results.json").read_text())["metrics"]
    (final,) = events.Scalars("hparams/test/map@50")
    assert final.value == pytest.approx(results["test/map@50"])


def test_curves_json_holds_the_test_curves(run_dir: Path) -> None:
    curves = json.loads((run_dir / "curves.json").read_text())
    # the last epoch; the best checkpoint too when it is another epoch
    assert "test" in curves and set(curves) <= {"test", "best/test"}
    for direction in ("i2t", "t2i"):
        curve = curves["test"][direction]
        assert curve["ks"] == [1, 10, 100] and len(curve["p@k"]) == 3
        assert len(curve["pr_precision"]) == len(curve["pr_recall"]) == 17  # radii 0..16
        assert curve["pr_recall"][-1] == pytest.approx(1.0)
