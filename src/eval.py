"""Test a trained checkpoint, write results.json and, on request, the hash codes.
Usage: python src/eval.py ckpt_path=PATH [data=...] [export_codes=true]"""

import contextlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the root, before rootutils
from src.utils.startup import quiet_start  # noqa: E402  (standard library only)

if __name__ == "__main__":  # the command, not a test importing it: its signals stay its own
    quiet_start()  # Ctrl-C or SIGTERM while rootutils, torch and Lightning load: one line, 130

import rootutils  # noqa: E402

rootutils.setup_root(__file__, indicator="pyproject.toml", pythonpath=True)

import hydra  # noqa: E402
import lightning as L  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from src.models.agch_module import AGCHModule  # noqa: E402  (the root must be on sys.path)
from src.models.base import MODULE_CLASS_KEY, CrossModalHashingModule  # noqa: E402
from src.models.cca_itq import CCAITQModule  # noqa: E402
from src.models.cmfh import CMFHModule  # noqa: E402
from src.models.finite_codes import NonFiniteCodes  # noqa: E402
from src.models.dgcpn_module import DGCPNModule  # noqa: E402
from src.models.djsrh_module import DJSRHModule  # noqa: E402
from src.models.jdsh_module import JDSHModule  # noqa: E402
from src.models.ucch_module import UCCHModule  # noqa: E402
from src.callbacks.curves import CurveRecorder  # noqa: E402
from src.report.gallery_codes import store_attrs  # noqa: E402
from src.utils import (  # noqa: E402
    ConfigError,
    DataError,
    RankedLogger,
    extras,
    instantiate_callbacks,
    instantiate_loggers,
    task_wrapper,
)
from src.utils.io_hdf5 import hdf5_writer  # noqa: E402
from src.utils.rendezvous import watch_rendezvous  # noqa: E402
from src.utils.checkpoints import check_weights_fit, read_checkpoint  # noqa: E402
from src.utils.codes_output import check_codes_path  # noqa: E402
from src.utils.weight_dtypes import check_weight_dtypes  # noqa: E402
from src.utils.jobs import run_cli, run_job  # noqa: E402
from src.utils.store_digest import check_same_store  # noqa: E402
from src.utils.metric_names import expected_metrics, recorded_stages  # noqa: E402
from src.utils.resume_checks import check_same_data  # noqa: E402
from src.utils.trained_data import check_trained_data, trained_words  # noqa: E402
from src.utils.records import (  # noqa: E402
    data_fields,
    git_commit,
    run_info,
    scalar_metrics,
    write_run_records,
)
from src.utils.reporting import print_metrics_table, table_title  # noqa: E402
from src.utils.coverage import partial_coverage  # noqa: E402
from src.utils.config_rules import resolved  # noqa: E402
from src.utils.run_checks import check_at_the_door, check_run  # noqa: E402
from src.utils.run_dir_guard import work_starts  # noqa: E402
from src.utils.run_dirs import register_resolvers  # noqa: E402

log = RankedLogger(__name__, rank_zero_only=True)
register_resolvers()

METHODS: tuple[type[CrossModalHashingModule], ...] = (
    AGCHModule,
    DJSRHModule,
    CCAITQModule,
    JDSHModule,
    CMFHModule,
    DGCPNModule,
    UCCHModule,
)


def module_class(ckpt_path: str) -> type[CrossModalHashingModule]:
    """The method a checkpoint was trained with: the class it names (checkpoints written since
    the base module saves MODULE_CLASS_KEY), else the one method whose constructor takes every
    saved hyper-parameter."""
    checkpoint = read_checkpoint(ckpt_path)
    by_name = {f"{c.__module__}.{c.__qualname__}": c for c in METHODS}
    name = checkpoint.get(MODULE_CLASS_KEY)
    if name is not None:
        if name not in by_name:
            raise ConfigError(
                f"ckpt_path: {ckpt_path}: trained with {name}, expected one of "
                + ", ".join(sorted(by_name))
            )
        return by_name[name]
    saved = set(checkpoint.get("hyper_parameters") or {})
    fits = [c for c in METHODS if saved <= set(inspect.signature(c.__init__).parameters)]
    if len(fits) != 1:
        raise ConfigError(
            f"ckpt_path: {ckpt_path}: cannot tell which method wrote it (its hyper-parameters "
            f"fit {', '.join(c.__name__ for c in fits) or 'none'} of "
            f"{', '.join(c.__name__ for c in METHODS)}); expected a checkpoint of src/train.py"
        )
    return fits[0]


def load_model(ckpt_path: str, image_dim: int, text_dim: int) -> CrossModalHashingModule:
    """The checkpoint's model (plain hyper-parameters only), checked against the data; its
    weights must fit the model its hyper-parameters build (`check_weights_fit`) and be finite
    (`read_checkpoint`). Raises ConfigError or DataError naming the checkpoint."""
    cls = module_class(ckpt_path)
    checkpoint = read_checkpoint(ckpt_path)
    try:
        model = cls(**checkpoint["hyper_parameters"])
    except (ConfigError, TypeError) as exc:  # hyper-parameters edited or from another version
        raise ConfigError(
            f"ckpt_path: {ckpt_path}: its hyper-parameters: {exc}; expected those "
            "src/train.py saved"
        ) from exc
    model.on_load_checkpoint(checkpoint)  # may rebuild parts for an older checkpoint
    check_weights_fit(model, checkpoint["state_dict"], ckpt_path, checkpoint["hyper_parameters"])
    check_weight_dtypes(model, checkpoint, ckpt_path)  # not silently cast (E_w_half)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    expected = (model.hparams.image_dim, model.hparams.text_dim)
    if expected != (image_dim, text_dim):
        trained = trained_words(checkpoint)
        raise ConfigError(
            f"data: feature dimensions (image, text) = {(image_dim, text_dim)} do not match "
            f"the checkpoint's {expected}; expected the data it was trained on"
            + (f": {trained}" if trained else "")
        )
    return model


@contextlib.contextmanager
def finite_or_refused(ckpt_path: str) -> Iterator[None]:
    """Run the block; its `NonFiniteCodes` (the model's activations or codes not finite: no
    metric or code is made from them) becomes one DataError naming the checkpoint."""
    try:
        yield
    except NonFiniteCodes as exc:
        raise DataError(
            ckpt_path,
            None,
            f"{exc.what}; expected a checkpoint whose weights and input statistics (image_mean, "
            "image_std, text_mean, text_std) give finite codes on this data",
        ) from exc


@torch.no_grad()
def encode_split(model: CrossModalHashingModule, loader: Any) -> dict[str, np.ndarray]:
    """Codes of both modalities (int8 in {-1, +1}), store indices, 0/1 labels of one split."""
    parts: dict[str, list[np.ndarray]] = {"image": [], "text": [], "index": [], "label": []}
    model.eval()
    for image, text, index, label in loader:
        codes_image, codes_text = model.encode(image.to(model.device), text.to(model.device))
        parts["image"].append(codes_image.to(torch.int8).cpu().numpy())
        parts["text"].append(codes_text.to(torch.int8).cpu().numpy())
        parts["index"].append(index.cpu().numpy())
        parts["label"].append(label.cpu().numpy().astype(np.uint8))  # multi-hot, as in the store
    return {key: np.concatenate(value) for key, value in parts.items()}


def export_codes(
    model: CrossModalHashingModule, datamodule: Any, path: Path, attrs: dict[str, Any]
) -> None:
    """Write the query and retrieval codes to `path` (HDF5, written atomically)."""
    splits = dict(zip(("query", "retrieval"), datamodule.test_dataloader()))
    with hdf5_writer(path, parents=True) as (h5, guard):
        for split, loader in splits.items():
            for key, array in encode_split(model, loader).items():
                name = f"{split}/{key}" if key in ("index", "label") else f"{split}/codes_{key}"
                h5.create_dataset(name, data=array)
                guard.check()
        for key, value in attrs.items():
            h5.attrs[key] = value
    log.info(f"Codes written to {path}")


@task_wrapper
def evaluate(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test the checkpoint on the configured data; returns (metrics, the objects built)."""
    commit = git_commit()  # at the start, as train.py
    if cfg.get("seed") is not None:
        # Lightning's own "Seed set to" line goes to stderr, before any error line
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        log.info(f"Seed set to {cfg.seed}")
    module_class(cfg.ckpt_path)  # a bad checkpoint fails before any data is read or made,
    saved = read_checkpoint(cfg.ckpt_path)  # verified once, read by each check below
    check_trained_data(cfg, saved, cfg.ckpt_path)  # synthetic against real data
    check_same_data(cfg, saved, cfg.ckpt_path)  # as other data
    topk = saved["hyper_parameters"].get("eval_topk")
    datamodule = hydra.utils.instantiate(cfg.data)
    # a synthetic store to (re)make is checked before it replaces data.path
    source = str(cfg.ckpt_path)  # eval_topk is the checkpoint's, not a setting of eval.py
    datamodule.prepare_data(accept=lambda sizes: check_run(cfg, sizes, topk, source))
    model = load_model(cfg.ckpt_path, *datamodule.feature_dims())
    other = bool(cfg.get("eval_other_store"))  # a store edited since training: refused
    check_same_store(saved, datamodule.path, cfg.ckpt_path, other)
    check_run(cfg, datamodule.split_sizes(), model.hparams.eval_topk, source)
    data = data_fields(datamodule)
    curves = CurveRecorder()  # always on: curves.json whatever the configured callbacks
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), curves]
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    watch_rendezvous(trainer, cfg)  # a signal ends the wait for the other processes
    if cfg.get("export_codes") and trainer.world_size > 1:
        raise ConfigError("export_codes: needs a single process; expected trainer.devices=1")
    work_starts()  # checked: an error from here on keeps the run folder as the run leaves it
    with finite_or_refused(cfg.ckpt_path):
        trainer.test(model=model, datamodule=datamodule, verbose=False)
    metrics = scalar_metrics(trainer.callback_metrics, ("test/",))
    run = run_info(cfg, data, commit)
    run |= {"method": model.method_name, "code_length": model.hparams.code_length}
    run["settings"] = checkpoint_settings(model, run["settings"])
    fields = {"ckpt_path": str(cfg.ckpt_path), "metrics": metrics, "codes_path": None}
    if cfg.get("export_codes"):
        attrs = {"ckpt_path": str(cfg.ckpt_path), "code_length": model.hparams.code_length}
        attrs |= store_attrs(datamodule.path)  # what a retrieval gallery needs (show_retrieval)
        with finite_or_refused(cfg.ckpt_path):
            export_codes(model, datamodule, Path(cfg.codes_path), attrs)
        fields["codes_path"] = str(cfg.codes_path)
    sizes = datamodule.split_sizes()
    expected = expected_metrics(model, sizes, recorded_stages(cfg))
    partial = partial_coverage(cfg, sizes, datamodule.eval_batch_size, ["test"])
    write_run_records(cfg, trainer, run, fields, curves.curves, expected, partial)
    if trainer.is_global_zero:
        print_metrics_table(metrics, "test", table_title("Test", run))
    return metrics, {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}


def checkpoint_settings(model: Any, configured: dict[str, Any]) -> dict[str, Any]:
    """results.json's ``settings`` of an evaluation: the checkpoint's model hyper-parameters
    (not eval.py's model config, which the checkpoint overrides) and the data as configured;
    the training's epoch count is the checkpoint's, not recorded."""
    data = {k: v for k, v in configured.items() if k.startswith("data.")}
    model_values = OmegaConf.to_container(OmegaConf.create(dict(model.hparams)), resolve=True)
    return {f"model.{k}": v for k, v in model_values.items()} | data


def eval_door(cfg: DictConfig) -> None:
    """What a run of eval.py checks before any work (a sweep: each job before the first runs):
    a checkpoint is given, every value and the machine (`check_at_the_door`), the checkpoint
    is whole and of a known method, its synthetic data is the configured one, and the codes
    file can be written without replacing anything (`check_codes_path`)."""
    if not OmegaConf.is_missing(cfg, "ckpt_path"):
        resolved(cfg)  # every interpolation resolves (ckpt_path in a folder named d${x})
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path: give the checkpoint to evaluate (ckpt_path=PATH)")
    check_at_the_door(cfg)
    check_codes_path(cfg)
    module_class(cfg.ckpt_path)
    saved = read_checkpoint(cfg.ckpt_path)
    check_trained_data(cfg, saved, cfg.ckpt_path)
    check_same_data(cfg, saved, cfg.ckpt_path)


def _eval_job(cfg: DictConfig) -> None:
    """Check the run at the door (`eval_door`), then evaluate the checkpoint."""
    eval_door(cfg)
    extras(cfg)
    evaluate(cfg)


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    """Command-line entry: one `error:` line and exit 2 for user errors."""
    run_job(cfg, _eval_job)


if __name__ == "__main__":
    run_cli(main, eval_door)
