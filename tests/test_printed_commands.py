"""Commands that refusals print work as printed, and a resume or an evaluation with other
settings than its checkpoint's run is refused naming the differing key, before any store is
generated (issue 22 trial, c51 -> c59: ``resume it with ckpt_path=... hydra.run.dir=...``
left out the run's own ``data.synthetic.*`` overrides; the printed command generated a 3000-item
store, then was refused about weight shapes). Generated runs and differences, judged by a
plain re-implementation of the expected command or key."""

import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from checkpoint_files import as_written
from cli_runs import TINY_ARGS, start
from config_snapshot import composed
from test_run_lifecycle import finish, one_error_line

from src.utils.checkpoints import epochs_done, read_checkpoint
from src.utils.errors import ConfigError
from src.utils.resume_checks import check_same_data, check_same_run_settings, run_settings
from src.utils.run_dir_checks import check_before_run_folder, check_run_dir_free

# overrides a user gives, from several config groups (values with spaces and quotes included)
POOL = [
    "data.synthetic.n_items=400",
    "data.synthetic.image_dim=64",
    "data.synthetic.text_dim=32",
    "data.batch_size=16",
    "model.code_length=16",
    "model.alpha=0.5",
    "seed=3",
    "logger=csv",
    "trainer.max_epochs=2",
    "tags=[a,b]",
    "+trainer.limit_train_batches=0.5",
    "task_name=my run",
    "extras.print_config=false",
]


def fake_run(run: Path, overrides: list[str], max_epochs: int, done: int) -> Path:
    """A run folder as train.py leaves one: Hydra's records and a last.ckpt after ``done``
    epochs."""
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra/overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    (run / ".hydra/config.yaml").write_text(
        OmegaConf.to_yaml({"trainer": {"max_epochs": max_epochs}})
    )
    (run / "checkpoints").mkdir()
    progress = {"fit_loop": {"epoch_progress": {"total": {"processed": done}}}}
    checkpoint = {"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {}, "loops": progress}
    torch.save(as_written(checkpoint), run / "checkpoints/last.ckpt")
    return run


def printed(line: str) -> list[str]:
    """The words of the command a refusal line ends with (after "with: ")."""
    return shlex.split(line.split(" with: ", 1)[1])


def test_the_printed_resume_command_is_the_runs_own_command(tmp_path: Path) -> None:
    """30 generated run folders (random overrides of several groups, a ckpt_path and
    hydra.run.dir among them or not, finished or not): the refusal of another run there prints
    train.py with the recorded overrides less ckpt_path/hydra.run.dir (and max_epochs, set
    one above the epochs done when the run finished), then ckpt_path and hydra.run.dir."""
    rng = np.random.default_rng(28)
    fresh = OmegaConf.create({"ckpt_path": None, "task_name": "train", "train": True})
    for case in range(30):
        run = tmp_path / f"run {case}"
        chosen = [o for o in POOL if rng.random() < 0.4]
        recorded = [*chosen, f"hydra.run.dir={run}"] if rng.random() < 0.5 else list(chosen)
        if rng.random() < 0.3:
            recorded.insert(0, "ckpt_path=/elsewhere/last.ckpt")
        max_epochs, done = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        fake_run(run, recorded, max_epochs, done)
        with pytest.raises(ConfigError) as error:
            check_run_dir_free(run, fresh)
        words = printed(str(error.value))
        last = str(run / "checkpoints" / "last.ckpt")
        expected = ["python", str(Path(sys.argv[0]).with_name("train.py"))]
        finished = done >= max_epochs
        for override in recorded:
            key = override.split("=")[0]
            if key not in ("ckpt_path", "hydra.run.dir") and not (
                finished and key == "trainer.max_epochs"
            ):
                expected.append(override)
        expected.append(f"ckpt_path={last}")
        if finished:
            expected.append(f"trainer.max_epochs={done + 1}")
        expected.append(f"hydra.run.dir={run}")
        assert words == expected, (case, str(error.value))


def test_a_search_without_m_prints_the_users_command_with_m() -> None:
    """The hparams_search refusal prints the command again with -m and every override the
    user gave (it printed 'python src/train.py -m hparams_search=optuna ...')."""
    rng = np.random.default_rng(5)
    for case in range(10):
        given = ["hparams_search=optuna", *[o for o in POOL if rng.random() < 0.4]]
        config = OmegaConf.create(
            {
                "paths": {"log_dir": "logs"},
                "task_name": "train",
                "hydra": {
                    "overrides": {"task": given},
                    "runtime": {"choices": {"hparams_search": "optuna"}},
                },
            }
        )
        with pytest.raises(ConfigError) as error:
            check_before_run_folder(config, sweep=False)
        words = shlex.split(str(error.value).split("needs -m; expected: ", 1)[1])
        assert words == ["python", sys.argv[0], "-m", *given], case


# (override, the key a refusal names): one key each, from the data, trainer, callback and seed
SINGLE = {
    "data.synthetic.image_dim=48": "data.synthetic.image_dim",
    "data.synthetic.text_dim=20": "data.synthetic.text_dim",
    "data.synthetic.n_items=500": "data.synthetic.n_items",
    "data.synthetic.seed=4": "data.synthetic.seed",
    "data.synthetic.n_classes=6": "data.synthetic.n_classes",
    "data.batch_size=8": "data.batch_size",
    "data.seed=5": "data.seed",
    "data.val_mode=heldout": "data.val_mode",
    "trainer.precision=bf16-mixed": "trainer.precision",
    "+trainer.limit_train_batches=0.5": "trainer.limit_train_batches",
    "callbacks.model_checkpoint.mode=min": "callbacks.model_checkpoint.mode",
}


@pytest.mark.parametrize("seed", range(3))
def test_a_single_setting_of_another_value_is_named_before_any_data(seed: int) -> None:
    """Generated (trained with, resumed with) pairs differing in one setting drawn from
    `SINGLE`, on top of random shared overrides: `check_same_run_settings` (which reads the
    configuration alone) names exactly that key, both values and the override restoring it;
    the same configuration as trained passes."""
    rng = np.random.default_rng(seed)
    for case in range(6):
        shared = [o for o in POOL[:4] if rng.random() < 0.5]
        change = list(SINGLE)[int(rng.integers(len(SINGLE)))]
        trained = OmegaConf.create(composed("train", shared))
        checkpoint = {"run_settings": run_settings(trained)}
        check_same_run_settings(trained, checkpoint, "x.ckpt")
        now = OmegaConf.create(composed("train", [*shared, change]))
        with pytest.raises(ConfigError) as error:
            check_same_run_settings(now, checkpoint, "x.ckpt")
        line, key = str(error.value), SINGLE[change]
        assert line.startswith("ckpt_path: x.ckpt: expected the settings its run"), line
        assert f"1 differ ({key}: " in line, (change, line)
        old = OmegaConf.select(trained, key.lstrip("+"), default=None)
        assert f"{key}: {old!r} in the checkpoint" in line or old is None, line


def test_eval_names_the_synthetic_parameter_that_differs() -> None:
    """eval.py on a synthetic store of other generator parameters than the checkpoint's run:
    the line names each differing data.synthetic key; other data settings (a batch size)
    and a real data set are not its business."""
    rng = np.random.default_rng(9)
    synthetic = [o for o in SINGLE if o.startswith("data.synthetic.")]
    trained = OmegaConf.create(composed("train", []))
    checkpoint = {"run_settings": run_settings(trained)}
    for case in range(8):
        changes = [o for o in synthetic if rng.random() < 0.4] or [synthetic[case % 5]]
        now = OmegaConf.create(composed("eval", ["ckpt_path=x.ckpt", *changes]))
        with pytest.raises(ConfigError) as error:
            check_same_data(now, checkpoint, "x.ckpt")
        line = str(error.value)
        assert f"{len(changes)} differ (" in line, line
        for change in changes:
            key = SINGLE[change]
            restore = f"{key}={OmegaConf.select(trained, key)}"  # the checkpoint's value
            assert f"{key}: " in line and restore in line.split("give ")[1].split(), line
    check_same_data(OmegaConf.create(composed("eval", ["data.batch_size=7"])), checkpoint, "x")
    check_same_data(OmegaConf.create(composed("eval", ["data=wiki"])), checkpoint, "x")


@pytest.mark.slow
def test_the_trials_commands_end_to_end(tmp_path: Path) -> None:
    """The trial's sequence with generated overrides: a finished one-epoch run; the same
    command again in its folder is refused printing a command; train.py and eval.py without
    the run's data.synthetic overrides are refused naming data.synthetic.image_dim, with no
    store generated; the printed command, run verbatim, exits 0 having trained epoch 2."""
    rng = np.random.default_rng(51)
    data_dir = tmp_path / "data"
    data_dir.mkdir()  # a store folder is never made for a run (a mistyped path would hide it)
    extra = [o for o in ("model.alpha=0.5", "data.batch_size=32", "seed=2") if rng.random() < 0.6]
    synthetic = ["data.synthetic.image_dim=20", "data.synthetic.text_dim=14"]
    common = [a for a in TINY_ARGS if not a.startswith("data.synthetic.")]
    tiny = [a for a in TINY_ARGS if a.startswith("data.synthetic.") and "_dim=" not in a]
    base = [*common, *tiny, "logger=none", f"paths.data_dir={data_dir}"]
    run = tmp_path / "logs" / "base run"
    first = [*base, *synthetic, *extra, "trainer.max_epochs=1", f"hydra.run.dir={run}"]
    status, _, err = finish(start("train.py", first, tmp_path))
    assert status == 0, err[-2000:]
    stores = sorted(data_dir.iterdir())
    status, out, err = finish(start("train.py", first, tmp_path))
    line = one_error_line(err, out)
    assert status == 2 and "or train it on (it finished its 1 epochs) with: " in line, line
    words = printed(line)
    last = run / "checkpoints" / "last.ckpt"
    bare = [*base, *extra, f"ckpt_path={last}", "trainer.max_epochs=2", f"hydra.run.dir={run}"]
    evaluate = [*[a for a in base if not a.startswith("model.")], f"ckpt_path={last}"]
    for script, args in (("train.py", bare), ("eval.py", evaluate)):
        status, out, err = finish(start(script, args, tmp_path))
        line = one_error_line(err, out)
        assert status == 2 and "data.synthetic.image_dim: 20 in the checkpoint, 512 now" in line
        assert sorted(data_dir.iterdir()) == stores, script
    assert Path(words[1]).name == "train.py"
    status, out, err = finish(start("train.py", words[2:], tmp_path))
    assert status == 0, err[-2000:]
    assert sorted(data_dir.iterdir()) == stores
    assert epochs_done(read_checkpoint(last)) == 2
