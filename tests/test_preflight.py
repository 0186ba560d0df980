"""A run's folder and store checked before the folder exists (issue 22, second trial): the run
folder Hydra derives stays inside paths.log_dir, an interpolation error is one line naming its
key, a store refused for its contents or made with other parameters leaves no folder and
prints nothing but its line, and a synthetic store is never replaced by one of other
parameters. Generated cases in-process against models written here; a few command lines
batched."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import TINY_DATA_PARAMS
from src.data.preflight import preflight_store
from src.data.store import values_checked
from src.data.synthetic import make_synthetic, params_key, store_file
from src.utils.errors import ConfigError, DataError
from src.utils.run_dirs import derived_run_dir, resolve_key

PIECES = ["a", "b", "..", ".", "runs", "x..y", "...", ""]


def inside(root: Path, below: str) -> bool:
    """Where ``root/below`` lands, walked name by name ('..' leaves a folder, '.' and '' stay;
    a leading '/' starts from the file system's root), as a list of names: strictly below
    ``root``?"""
    position = ["/"] if below.startswith("/") else list(root.parts)
    for part in below.split("/"):
        if part == "..":
            position = position[:-1] if len(position) > 1 else position
        elif part not in (".", ""):
            position.append(part)
    return position[: len(root.parts)] == list(root.parts) and len(position) > len(root.parts)


def test_a_derived_run_folder_stays_inside_the_log_folder(tmp_path: Path) -> None:
    """200 generated task names and patterns: refused exactly when the folder would land
    outside (or on) paths.log_dir, naming hydra.run.dir; nothing is made."""
    rng = np.random.default_rng(0)
    root = tmp_path / "logs"
    for _ in range(200):
        below = "/".join(rng.choice(PIECES, size=int(rng.integers(1, 6))))
        try:
            derived = derived_run_dir(str(root), below)
        except ConfigError as error:
            assert not inside(root, below), below
            assert str(error).startswith("hydra.run.dir: the run folder derived from"), error
            continue
        assert inside(root, below) and derived == os.path.join(root, below), below
    assert not root.exists()


@pytest.mark.parametrize(
    "value, key, words",
    [
        ("${oc.env:NO_SUCH_VARIABLE_27}", "paths.log_dir", "cannot resolve its value"),
        ("${no_such_key}", "paths.log_dir", "cannot resolve its value"),
        ("${no_such_resolver:1}", "paths.log_dir", "cannot resolve its value"),
    ],
)
def test_an_interpolation_error_is_one_line_naming_its_key(value, key, words) -> None:
    config = OmegaConf.create({"paths": {"log_dir": value}})
    with pytest.raises(ConfigError) as error:
        resolve_key(config, key)
    assert str(error.value).startswith(f"{key}: {words}") and "\n" not in str(error.value)


def synthetic_config(path: Path | None, params: dict) -> OmegaConf:
    data = {"synthetic": dict(params), "batch_size": 8}
    data["path"] = str(path) if path is not None else "${synthetic_store:/x,${data.synthetic}}"
    return OmegaConf.create({"data": data})


def test_each_set_of_parameters_names_its_own_store() -> None:
    """Generated parameter sets: equal sets (a default given or not, 2 and 2.0) share a file,
    any change of a value gives another; the resolver of the config gives that file."""
    rng = np.random.default_rng(1)
    seen: dict[str, tuple] = {}
    for _ in range(40):
        params = dict(TINY_DATA_PARAMS)
        for key in rng.choice(sorted(params), size=int(rng.integers(0, 3)), replace=False):
            params[key] = int(params[key]) + int(rng.integers(1, 3))
        if rng.random() < 0.5:
            params["noise"] = 2.0 if rng.random() < 0.5 else 2  # the generator's default
        name = store_file("/x", params)
        identity = tuple(sorted((k, float(v)) for k, v in params.items() if k != "noise"))
        assert seen.setdefault(name, identity) == identity, params
        assert synthetic_config(None, params).data.path == name
    assert len(seen) > 10 and params_key({"n_classes": "abc"}) != params_key({"n_classes": 5})


@pytest.mark.parametrize("name, value", [("n_classes", 1), ("n_train", 1), ("n_classes", "x")])
def test_generator_parameters_are_checked_before_anything_is_written(
    tmp_path: Path, name: str, value
) -> None:
    path = tmp_path / "s.h5"
    with pytest.raises(ConfigError, match=rf"^data\.synthetic\.{name}: expected an integer >= 2"):
        preflight_store(synthetic_config(path, TINY_DATA_PARAMS | {name: value}))
    assert list(tmp_path.iterdir()) == []


def _nan(h5: h5py.File) -> None:
    h5["image"][7, 1] = np.nan


def _no_label(h5: h5py.File) -> None:
    h5["label"][3] = 0


def _two(h5: h5py.File) -> None:
    h5["label"][5, 0] = 2


@pytest.mark.parametrize(
    "damage, words", [(_nan, "[image]"), (_no_label, "[label]"), (_two, "[label]")]
)
def test_a_store_refused_for_its_contents_is_refused_in_the_preflight(
    tmp_path: Path, damage, words: str
) -> None:
    path = tmp_path / "s.h5"
    make_synthetic(path, seed=0, **TINY_DATA_PARAMS)
    with h5py.File(path, "a") as h5:
        damage(h5)
    before = path.read_bytes()
    with pytest.raises(DataError) as error:
        preflight_store(synthetic_config(path, TINY_DATA_PARAMS))
    assert str(error.value).startswith(f"{path} {words}: expected") and not values_checked(path)
    assert path.read_bytes() == before


def test_a_store_of_other_parameters_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    make_synthetic(path, seed=0, **TINY_DATA_PARAMS)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    other = TINY_DATA_PARAMS | {"n_classes": 3}
    with pytest.raises(DataError, match=r"\[data\.path\]: expected the synthetic store of these"):
        preflight_store(synthetic_config(path, other))
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    preflight_store(synthetic_config(path, TINY_DATA_PARAMS))  # its own parameters: scanned
    assert values_checked(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))
    assert not values_checked(path)  # another file now (the run scans it again)


def test_command_lines_refused_in_the_preflight_print_one_line_and_leave_nothing(
    tmp_path: Path,
) -> None:
    """train.py and eval.py as a user types them, in parallel: exit 2, the one error line and
    nothing else on stdout and stderr (no log line, no Lightning line), no folder under the
    log folder, the stores untouched."""
    from cli_runs import TINY_ARGS, start
    from conftest import TINY_DATA
    from test_run_lifecycle import finish, one_error_line

    data, logs = tmp_path / "data", tmp_path / "logs"
    data.mkdir()
    make_synthetic(data / "nan.h5", seed=0, **TINY_DATA_PARAMS)
    with h5py.File(data / "nan.h5", "a") as h5:
        _nan(h5)
    before = (data / "nan.h5").read_bytes()
    where = [f"paths.data_dir={data}", f"paths.log_dir={logs}"]
    base = {
        "train.py": [*TINY_ARGS, *where, "logger=none"],
        "eval.py": [*TINY_DATA, "trainer=cpu", "extras.print_config=false", *where],
    }
    cases = {
        ("train.py", "data.synthetic.n_classes: expected an integer >= 2"): [
            "data.synthetic.n_classes=1"
        ],
        ("train.py", "[image]: expected finite values"): [f"data.path={data / 'nan.h5'}"],
        ("eval.py", "[image]: expected finite values"): [
            f"data.path={data / 'nan.h5'}",
            f"ckpt_path={data / 'nan.h5'}",
        ],
        ("train.py", "paths.log_dir: expected a folder"): ["paths.log_dir=/proc/x27"],
        ("train.py", "paths.log_dir: cannot resolve"): ["paths.log_dir=${oc.env:NO_VAR_27}"],
    }
    runs = {key: start(key[0], [*base[key[0]], *extra], tmp_path) for key, extra in cases.items()}
    for key, process in runs.items():
        status, out, err = finish(process)
        assert status == 2 and key[1] in one_error_line(err), (key, err[-2000:])
        assert out == "", (key, out[-2000:])
    assert not logs.exists() and sorted(p.name for p in data.iterdir()) == ["nan.h5"]
    assert (data / "nan.h5").read_bytes() == before


def test_a_bad_value_flowing_into_a_data_key_names_the_key_the_user_set() -> None:
    """``data.seed: ${oc.select:seed,0}``: `seed=null` is named as ``seed`` (the key given),
    a bad ``data.seed`` given directly as ``data.seed``; over every interpolation form."""
    from src.data.preflight import _data_values

    forms = ["${seed}", "${oc.select:seed,0}", "${oc.select:seed}"]
    for form, bad in [(f, b) for f in forms for b in (None, -1, "abc", 2.5, 2**32)]:
        config = OmegaConf.create({"seed": bad, "data": {"seed": form}})
        with pytest.raises(ConfigError) as caught:
            _data_values(config)
        assert str(caught.value).startswith("seed: expected an integer"), (form, bad, caught)
        direct = OmegaConf.create({"seed": 0, "data": {"seed": bad}})
        with pytest.raises(ConfigError) as caught:
            _data_values(direct)
        assert str(caught.value).startswith("data.seed: expected an integer"), (bad, caught)
    assert _data_values(OmegaConf.create({"seed": 3, "data": {"seed": "${seed}"}})) == {"seed": 3}
