"""Folders under configs/ that are no group to choose (sixth trial: ``+common=data`` trained
to "completed" with an unread block; the ``/``-key refusal offered ``common`` and ``local``;
``+local=default`` in a clone without the file did not say that the file is to be created).
Generated over every folder under configs/ x the forms of a selection; fails on the previous
code (``+common=data`` and ``local=default`` accepted, ``common``/``local`` listed)."""

import functools
import shutil

import pytest
import yaml

import src.utils.config_groups as config_groups
from door import ROOT, door

CONFIGS = ROOT / "configs"
FOLDERS = sorted(p.name for p in CONFIGS.iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def entry_default(folder: str) -> str | None:
    """The option train.yaml's defaults list gives ``folder`` (None: null or not listed)."""
    entry = yaml.safe_load((CONFIGS / "train.yaml").read_text())
    for item in entry["defaults"]:
        if isinstance(item, dict):
            for key, value in item.items():
                if key.split()[-1] == folder:
                    return None if value is None else str(value)
    return None


def option(folder: str) -> str:
    """An option of ``folder`` other than the default when it has one (``+F=<the default>``
    changes nothing and Hydra accepts it), else its default (local: default)."""
    files = sorted(p.stem for p in (CONFIGS / folder).glob("*.yaml"))
    others = [f for f in files if f != entry_default(folder)]
    chosen = (others or files or [entry_default(folder)])[0]
    assert chosen is not None, folder
    return chosen


@functools.cache
def is_selectable(folder: str) -> bool:
    """Whether ``<folder>=<option>`` passes the door (what selecting a group means)."""
    return door([f"{folder}={option(folder)}"])[0] is None


def listed_groups(line: str) -> list[str]:
    """The groups a refusal offers ("groups: a, b, c;" or ")"), or []."""
    if "groups: " not in line:
        return []
    words = line.split("groups: ", 1)[1]
    return [w.strip() for w in words.split(";")[0].split(")")[0].split(",")]


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_folder_by_every_form_of_selection(folder: str) -> None:
    """``F=opt`` passes for a group and is refused for a folder that is none (common, local
    without its file) with one line naming the override and the folder; ``+F=opt``,
    ``++F=opt`` and an unknown option are refused with one line saying what is expected;
    every group a refusal lists passes ``G=opt`` itself, and every selectable folder but
    Hydra's own is listed."""
    name = option(folder)
    forms = [f"{folder}={name}", f"+{folder}={name}", f"++{folder}={name}"]
    forms += [f"{folder}=no_such_option", f"+{folder}/no_such=x"]
    not_a_group = not (CONFIGS / folder / f"{name}.yaml").is_file() or folder == "common"
    for form in forms:
        line, _ = door([form])
        if name == entry_default(folder) and form.lstrip("+") == forms[0] and line is None:
            continue  # +paths=default: the default again, no change (Hydra accepts it)
        if form == forms[0] and not not_a_group:
            assert line is None, (form, line)
            continue
        assert line is not None and "\n" not in line, (form, line)
        assert "expected" in line, (form, line)
        if not_a_group and "/" not in form:
            assert f"{form}: " in line and f"configs/{folder}/" in line, (form, line)
        groups = listed_groups(line)
        for group in groups:
            assert group not in ("common", "local") and is_selectable(group), (group, line)
        if "/" in form:
            selectable = [f for f in FOLDERS if f != "hydra" and is_selectable(f)]
            assert sorted(groups) == selectable, line


def test_local_with_its_file_is_read_and_without_it_named(tmp_path, monkeypatch) -> None:
    """With configs/local/default.yaml created (a copy of configs/), ``local=default`` passes
    and its value is read, ``+local=default`` is refused as read already and an option without
    its file is refused naming the file to create; without the file ``local=default`` names
    it too (it was accepted silently)."""
    copy = tmp_path / "configs"
    shutil.copytree(
        CONFIGS, copy, ignore=shutil.ignore_patterns("default.yaml"), dirs_exist_ok=True
    )
    for path in CONFIGS.rglob("default.yaml"):  # every default.yaml but the local one
        if path.parent.name != "local":
            (copy / path.relative_to(CONFIGS)).write_bytes(path.read_bytes())
    monkeypatch.setattr(config_groups, "CONFIGS", copy)
    line, _ = door(["local=default"], copy)
    assert "configs/local/default.yaml does not exist" in line and "create" in line, line
    (copy / "local" / "default.yaml").write_text("# @package _global_\nseed: 3\n")
    line, cfg = door(["local=default"], copy)
    assert line is None and cfg.seed == 3, line
    line, _ = door(["+local=default"], copy)
    assert "read already" in line and "remove +local=default" in line, line
    line, _ = door(["local=gpu_box"], copy)
    assert "configs/local/gpu_box.yaml does not exist" in line, line
