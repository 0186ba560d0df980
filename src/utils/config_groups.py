"""Which folders under configs/ are config groups a user selects, and what to type for the
others (sixth trial: ``+common=data`` trained to "completed" with an unread block, and the
``/``-key refusal offered ``common`` and ``local`` as groups to select).

Two folders hold configuration that is not chosen on the command line (`NOT_GROUPS`):
``configs/common/`` holds the settings every data set or model shares, included by
configs/data/*.yaml and configs/model/*.yaml (``- /common/data@_here_``); ``configs/local/``
holds machine-specific settings in a git-ignored file a user creates,
configs/local/default.yaml, read by every run when it exists (train.yaml and eval.yaml:
``optional local: default``). ``hydra/`` is Hydra's own (``hydra/launcher=joblib``).
`selectable_groups` is the one list of groups that every message offering groups names.
"""

from __future__ import annotations

from collections.abc import Iterable

from src.utils.suggest import CONFIGS

HYDRA = "hydra"
COMMON = (
    "configs/common/ holds the settings every data set or model shares (configs/data/*.yaml "
    "and configs/model/*.yaml include them); it is not a group to choose"
)
LOCAL = (
    "configs/local/ holds machine-specific settings in a git-ignored file you create: "
    "configs/local/default.yaml, which every run reads when it exists (e.g. paths.data_dir, "
    "trainer.accelerator); it is not a group to choose"
)
NOT_GROUPS = {"common": COMMON, "local": LOCAL}
# groups whose options are entries merged side by side (each option adds named callbacks or
# loggers), so that a list of options keeps several: callbacks=[default,lr_monitor]
LIST_GROUPS = ("callbacks", "logger")


def selectable_groups() -> tuple[str, ...]:
    """The config groups a user selects with ``<group>=<option>``: every folder under
    configs/ that holds an option (a .yaml file), without `NOT_GROUPS` and Hydra's own."""
    return tuple(
        sorted(
            p.name
            for p in CONFIGS.iterdir()
            if p.is_dir()
            and p.name not in NOT_GROUPS
            and p.name != HYDRA
            and any(p.glob("*.yaml"))
        )
    )


def groups_words() -> str:
    """The selectable groups as a message lists them."""
    return ", ".join(selectable_groups())


def _parsed(words: Iterable[str]) -> list[tuple[str, str, object]]:
    """(prefix "", "+" or "++"; group or key; value) of each word that Hydra's grammar parses as an
    override of a top-level name (a word it cannot parse is left out)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    found = []
    for word in words:
        try:
            override = parser.parse_override(word)
        except Exception:  # noqa: BLE001  (a flag, or a word Hydra reports itself)
            continue
        prefix = "++" if override.is_force_add() else "+" if override.is_add() else ""
        if not override.is_delete():
            found.append((prefix, override.key_or_group, override.value()))
    return found


def folder_refusal(words: Iterable[str]) -> str | None:
    """The refusal of the first override in ``words`` (command-line words) that selects a
    folder which is no group to choose (`NOT_GROUPS`), as ``<override>: <what the folder is>;
    expected <what to do>``; None when there is none. ``local=<name>`` (without ``+``) is
    accepted when configs/local/<name>.yaml exists: the defaults list reads it."""
    for prefix, group, value in _parsed(words):
        if group not in NOT_GROUPS:
            continue
        given = f"{prefix}{group}={value}"
        if group == "common":
            return (
                f"{given}: {COMMON}; expected a data set or method (data=<name>, model=<name>) "
                f"or one of their keys (data.batch_size=64, model.eval_topk=100)"
            )
        exists = (CONFIGS / "local" / f"{value}.yaml").is_file()
        if exists and not prefix:
            continue
        if exists:
            return f"{given}: {LOCAL}; configs/local/{value}.yaml is read already: remove {given}"
        return (
            f"{given}: configs/local/{value}.yaml does not exist; {LOCAL}; expected that file "
            "created (no override needed), or the keys set on the command line"
        )
    return None


def group_form_refusal(words: Iterable[str]) -> str | None:
    """``++<group>=<option>`` of a selectable group (Hydra: "force-add of config groups is not
    supported") as one line saying what to type; None when ``words`` hold none."""
    for prefix, group, value in _parsed(words):
        if prefix == "++" and group in selectable_groups():
            return (
                f"++{group}={value}: {group} is a config group, chosen with {group}=<option>, "
                f"not forced; expected {selection_advice(group, str(value), words)}"
            )
    return None


def selection_advice(group: str, option: str, words: Iterable[str] = ()) -> str:
    """The override that adds ``option`` of ``group`` to the run as intended: for a
    `LIST_GROUPS` group (whose options add entries) the options chosen now -- the command
    line's ``group=...``, else the entry config's default -- with ``option`` beside them
    (``callbacks=[default,lr_monitor]``: ``callbacks=lr_monitor`` alone would drop the
    checkpoints); for any other group ``group=option``."""
    if group not in LIST_GROUPS:
        return f"{group}={option}"
    chosen = [v for p, g, v in _parsed(words) if g == group and not p]
    current = chosen[-1] if chosen else entry_default(group)
    kept = [str(c) for c in (current if isinstance(current, list) else [current])]
    kept = [c for c in kept if c not in ("none", "null", "None", option)]
    return f"{group}=[{','.join([*kept, option])}]" if kept else f"{group}={option}"


def entry_default(group: str) -> str | None:
    """The option the entry config of the running script (train.yaml, eval.yaml) chooses for
    ``group`` in its defaults list (None for ``null`` or none)."""
    import yaml

    from src.utils.suggest import script_name

    entry = CONFIGS / script_name().replace(".py", ".yaml")
    tree = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
    for item in tree.get("defaults") or []:
        if isinstance(item, dict) and group in item:
            value = item[group]
            return None if value is None else str(value)
    return None
