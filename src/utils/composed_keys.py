"""The keys of the configuration a command line composes to, from which every unknown-key
refusal lists and suggests (issue 22: under a chosen method ``model.foo=1`` listed the keys of
every method's file together, the refused key among them when another preset has it, and
advised ``+model.foo=...``, which the door then refused).

`chosen_config` composes the running script's configuration again with the command line's
config-group choices alone (its key overrides left out, the refused one among them), so the
keys offered are those of the presets chosen: the composed ``model`` node of ``model=djsrh``
or of ``experiment=wiki_agch_32bit``. `unknown_key_words` words the refusal from it: a close
key (``did you mean``), else the keys beside it; ``+key=...`` is advised only where the door
accepts it (`addable`: an argument of the ``_target_`` that builds the node, which the
configuration leaves at its default and the run does not set itself, `SET_BY_THE_RUN`).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from src.utils.config_rules import select_key
from src.utils.suggest import CONFIGS, closest, script_name

# arguments of a node's _target_ that the scripts pass themselves when they build it (a key
# added with + would be replaced silently): the data's feature widths, the built callbacks
# and loggers (src/train.py, src/eval.py)
SET_BY_THE_RUN = {
    "model": ("image_dim", "text_dim"),
    "trainer": ("callbacks", "logger"),
}
SET_WHY = {
    "model": "the data's feature widths, read from the store",
    "trainer": "the callbacks and logger groups, built by the script",
}


def choice_words(words: Iterable[str]) -> tuple[str, ...]:
    """The words of a command line that choose config options (``model=djsrh``,
    ``+experiment=x``, ``hydra/launcher=joblib``, ``callbacks=[default,lr_monitor]``); key
    overrides, deletions, sweeps and flags are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    kept = []
    for word in words:
        try:
            override = parser.parse_override(word)
        except Exception:  # noqa: BLE001  (a flag, or a word Hydra reports itself)
            continue
        group = override.key_or_group
        is_group = "/" in group or (group != "" and (CONFIGS / group).is_dir())
        if is_group and not override.is_delete() and not override.is_sweep_override():
            kept.append(word)
    return tuple(kept)


@functools.lru_cache(maxsize=16)
def _composed(name: str, choices: tuple[str, ...]) -> tuple[dict, dict] | None:
    """(configuration, its ``hydra.runtime.choices``) of entry config ``name``
    composed with ``choices``, as plain containers (unresolved); None when it does not
    compose."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    try:
        if GlobalHydra.instance().is_initialized():  # inside Hydra: its own search path
            cfg = compose(name, overrides=list(choices), return_hydra_config=True)
        else:
            with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
                cfg = compose(name, overrides=list(choices), return_hydra_config=True)
        picked = OmegaConf.to_container(cfg.hydra.runtime.choices, resolve=False)
        tree = OmegaConf.to_container(cfg, resolve=False)
    except Exception:  # noqa: BLE001  (the refusal then lists nothing)
        return None
    return tree, picked


def chosen_config(words: Iterable[str], script: str | None = None) -> tuple[dict, dict] | None:
    """(configuration, choices of its groups) of ``script`` (default: the one running)
    composed with the config-group choices of ``words`` alone (`choice_words`); None when
    it does not compose."""
    return _composed((script or script_name())[: -len(".py")], choice_words(words))


def names_under(tree: Mapping[str, Any], parent: str) -> list[str] | None:
    """The key names of the node ``parent`` (dotted, "" for the top) of ``tree``, without
    ``_target_``-like ones, ``defaults`` and Hydra's own node; None when ``parent`` is no
    mapping there."""
    node: Any = tree
    for part in parent.split(".") if parent else []:
        node = node.get(part) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    hidden = {"defaults"} | ({"hydra"} if not parent else set())  # Hydra's node: hydra.*
    return sorted(str(k) for k in node if not str(k).startswith("_") and k not in hidden)


def addable(tree: Mapping[str, Any], parent: str) -> tuple[str | None, list[str]]:
    """(the function or class that builds node ``parent``, the arguments of it that
    ``+<parent>.<name>=...`` may add): those the node lacks, without `SET_BY_THE_RUN`; (None,
    []) when no ``_target_`` builds the node itself or it takes any keyword."""
    from src.utils.added_keys import NESTED, parameters

    node: Any = tree
    for part in parent.split(".") if parent else []:
        node = node.get(part) if isinstance(node, Mapping) else None
    target = NESTED.get(parent) or (node.get("_target_") if isinstance(node, Mapping) else None)
    arguments = parameters(target) if isinstance(target, str) else None
    if arguments is None or not isinstance(node, Mapping):
        return None, []
    taken = (
        set(node) | set(SET_BY_THE_RUN.get(parent, ())) | ({"path"} if parent in NESTED else set())
    )
    return target, sorted(arguments - taken)


def dotted_keys(tree: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every dotted key of ``tree`` (nodes and leaves; ``_target_``-like names and
    ``defaults`` left out)."""
    keys: set[str] = set()
    for key, value in tree.items():
        if str(key).startswith("_") or key == "defaults":
            continue
        keys.add(f"{prefix}{key}")
        if isinstance(value, Mapping):
            keys |= dotted_keys(value, f"{prefix}{key}.")
    return keys


def deepest_node(tree: Mapping[str, Any], key: str) -> tuple[str, Any]:
    """(the longest proper prefix of ``key`` present in ``tree``, its value)."""
    node: Any = tree
    found = ""
    for part in key.split(".")[:-1]:
        if not isinstance(node, Mapping) or part not in node:
            break
        node = node[part]
        found = f"{found}.{part}" if found else part
    return found, node


def added_advice(key: str, value: str, words: Iterable[str] = ()) -> str:
    """``expected +key=value``, the advice for a key the configuration lacks; when ``value``
    breaks the key's rule (`RULES`), what the rule allows instead, so that the advice never
    names a value the door then refuses (trial 8 T03: max_steps=0 advised +max_steps=0);
    when the command line ``words`` with ``+key=value`` in place would be refused by the door
    for another reason (a limit of 0 batches, two nodes without DDP: trial 9), that refusal,
    which says what is allowed (`src.utils.advice_check`)."""
    from src.utils.advice_check import door_refusal, followed

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from src.utils.config_rules import RULES

    how = "a key the configuration lacks is added with +"
    rule = RULES.get(key)
    try:
        typed = OverridesParser.create().parse_override(f"{key}={value}").value()
    except Exception:  # noqa: BLE001  (a value Hydra reports itself)
        typed = value
    if rule is None or value == "..." or rule.allows(typed):
        refusal = (
            door_refusal(followed(words, key, f"+{key}={value}"), script_name()) if words else None
        )
        if refusal:
            return f"+{key}={value} would be refused as well: {refusal}"
        return f"expected +{key}={value} ({how})"
    return f"expected +{key}=<{rule.expected()}> ({how}; {value} is not one)"


def unknown_key_words(key: str, words: Iterable[str], value: str = "...", form: str = "") -> str:
    """The refusal of ``key``, which the configuration that ``words`` (a command line)
    compose to lacks, after ``"<key>: "``: where it is missing, a close key of that
    configuration (``did you mean``) or the keys beside it, and what to type; ``+key=value``
    only when the door takes it (`addable`). ``form``: how the key was given, "" (key=value),
    "+" (added) or "~" (deleted)."""
    script = script_name()
    found = chosen_config(words, script)
    if found is None:  # the choices do not compose: Hydra reports that once they are fixed
        return f"not a key of {script}'s configuration; expected a key it has"
    tree, choices = found
    group = key.split(".")[0]
    if script == "eval.py" and group == "model" and "model" not in tree:
        return ("" if form == "+" else f"not a key of {script}'s configuration: ") + (
            "eval.py takes no model.* key: it evaluates the checkpoint's model with the "
            "hyper-parameters saved in it (eval_topk included); remove the override (eval.py's "
            f"keys: {', '.join(names_under(tree, '') or [])})"
        )
    present, now = select_key(tree, key)
    if present and form == "~":  # Hydra: "does not exist" of a key whose value is null
        shown = "null" if now is None else "??? (missing)" if now == "???" else repr(now)
        return (
            f"it holds no value ({shown}), so there is nothing to delete; expected no ~{key} "
            "(remove the override)"
        )
    where = f"{script}'s configuration" + (
        f" ({group}={choices[group]})" if isinstance(choices.get(group), str) else ""
    )
    parent, node = deepest_node(tree, key)
    target, extra = addable(tree, parent)
    if (key[len(parent) + 1 :] if parent else key) in extra and form != "+":
        return f"not in {where}, which leaves this argument of {target} at its default; " + (
            "remove the override (there is nothing to delete)"
            if form == "~"
            else added_advice(key, value, words)
        )
    shown = shlex.join(["python", f"src/{script}", *choice_words(words), "--cfg", "job"])
    where = (where, f"{shown} lists them")
    return _missing(key, where, tree, (parent, node), (target, extra), form == "+")


def _missing(
    key: str,
    where: tuple[str, str],
    tree: Mapping[str, Any],
    found: tuple[str, Any],
    building: tuple[str | None, list[str]],
    added: bool,
) -> str:
    """`unknown_key_words` for a key that is no argument to add: set by the run itself, a
    close key, a prefix that holds no keys, or the keys beside it (``found``: the deepest
    node above it and its value; ``building``: `addable` of that node; ``where``: the
    configuration's name and the command that lists its keys)."""
    (parent, node), (target, extra), (where, lists) = found, building, where
    name = key[len(parent) + 1 :] if parent else key
    if name in SET_BY_THE_RUN.get(parent, ()):
        return f"set by the run itself ({SET_WHY[parent]}), not a key to give; remove the override"
    lead = "unknown key (added with +): " if added else ""
    head = f"{lead}not a key of {where}" + (
        f" nor an argument of {target}" if added and target else ""
    )
    if not isinstance(node, Mapping):
        shown = "null" if node is None else repr(node)
        return (
            f"{head}: {parent} is {shown} there and holds no keys; expected a key it has ({lists})"
        )
    plus = {f"{parent}.{a}" if parent else a for a in extra}
    pool = {k for k in dotted_keys(tree) | plus if not key.startswith(f"{k}.")}  # no parent
    close = closest(key, pool)
    if close in plus:
        return (
            f"{head}; expected one of its keys or arguments: did you mean {close}? (added with "
            f"+{close}=..., left at its default)"
        )
    if close:
        return f"{head}; expected one of its keys: did you mean {close}?"
    at = f"under {parent}" if parent else "at the top level"
    listed = f"; accepted {at}: " + ", ".join(names_under(tree, parent) or [])
    if extra:
        listed += f"; and added with +, these arguments of {target}: " + ", ".join(extra)
    return f"{head}{listed}; expected one of them ({lists})"


def setting_form(key: str, words: Iterable[str]) -> str | None:
    """How ``key`` is set on the command line that ``words`` compose: "" (a key of the
    configuration), "+" (an argument to add: `addable`), None (neither, or no composition)."""
    found = chosen_config(words)
    if found is None:
        return None
    tree = found[0]
    if key in dotted_keys(tree):
        return ""
    parent, _ = deepest_node(tree, key)
    extra = addable(tree, parent)[1]
    return "+" if (key[len(parent) + 1 :] if parent else key) in extra else None


def list_above(key: str, words: Iterable[str]) -> str | None:
    """The proper prefix of ``key`` that is a list in the configuration ``words`` compose to,
    when the part after it is a name, not an index (``model.eval_ks.foo``: model.eval_ks);
    else None."""
    found = chosen_config(words)
    if found is None:
        return None
    parent, node = deepest_node(found[0], key)
    rest = key[len(parent) + 1 :].split(".")[0] if parent else ""
    return parent if isinstance(node, list) and not rest.isdigit() else None


def added_key_refusal(key: str, words: Iterable[str]) -> str:
    """The refusal of ``+key=...`` that nothing reads (`unknown_key_words`, form "+")."""
    return f"{key}: {unknown_key_words(key, words, form='+')}"
