"""A misspelt key is refused naming the key meant (sixth trial: ``+data.synthetic.n_item=100``
was refused with neither ``n_items`` nor the accepted keys). Generated: keys sampled at every
depth of the composed configuration, each with a one-edit typo (a letter dropped, two swapped,
one inserted), given as ``key=value`` and ``+key=value``; the refusal says ``did you mean
<key>?``. A typo within one edit of another key too is left out (either would be right). Fails
on the previous code (``+data.synthetic.*`` went unsuggested)."""

import string

import numpy as np
import pytest
from omegaconf import OmegaConf

from door import ROOT, composed_run, door
from src.data.synthetic import synthetic_params
from src.utils.errors import ConfigError
from src.utils.suggest import known_keys

GROUPS = ("", "data.", "data.synthetic.", "model.", "trainer.", "callbacks.model_checkpoint.")


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


def edits(a: str, b: str) -> int:
    """Levenshtein distance (a plain dynamic programme), the typo's independent measure."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def typo(name: str, rng: np.random.Generator) -> str:
    """``name`` with one letter dropped, two neighbours swapped or a letter inserted."""
    i = int(rng.integers(0, len(name)))
    kind = int(rng.integers(0, 3))
    if kind == 0 and len(name) > 3:
        return name[:i] + name[i + 1 :]
    if kind == 1 and i < len(name) - 1 and name[i] != name[i + 1]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + str(rng.choice(list(string.ascii_lowercase))) + name[i:]


def cases(seed: int, per_group: int) -> list[tuple[str, str, object]]:
    """(key, misspelt key, value) for ``per_group`` leaves of each of `GROUPS`."""
    values = OmegaConf.to_container(composed_run([]), resolve=False)
    rng = np.random.default_rng(seed)
    known = known_keys()
    found = []
    for prefix in GROUPS:
        node = OmegaConf.select(OmegaConf.create(values), prefix[:-1]) if prefix else values
        # leaves only: a nested node (data.synthetic) is a DictConfig here, not a dict
        leaves = [
            k
            for k, v in node.items()
            if not isinstance(v, dict) and not OmegaConf.is_config(v) and k != "_target_"
        ]
        leaves = [k for k in leaves if not isinstance(node[k], (list, str)) or k == "ckpt_path"]
        for name in rng.choice(sorted(leaves), min(per_group, len(leaves)), replace=False):
            wrong = typo(str(name), rng)
            siblings = {k.rpartition(".")[2] for k in known if k.startswith(prefix)}
            siblings = {s for s in siblings if "." not in s} - {name}
            if wrong in siblings | {name} or any(edits(wrong, s) <= 1 for s in siblings):
                continue
            found.append((prefix + str(name), prefix + wrong, node[name]))
    return found


def test_a_typo_of_a_key_at_every_depth_names_the_key() -> None:
    """Each sampled key misspelt, plain and with +: one line naming the key meant."""
    tried = cases(seed=3, per_group=1)
    assert {key.rpartition(".")[0] for key, _, _ in tried} >= {"", "data", "model", "trainer"}
    for key, wrong, value in tried:
        shown = (
            "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        )
        for form in (f"{wrong}={shown}", f"+{wrong}={shown}"):
            line, _ = door([form])
            assert line is not None and f"did you mean {key}?" in line, (form, line)


@pytest.mark.slow
def test_many_typos_name_the_key() -> None:
    """As above, more keys of each group."""
    for key, wrong, value in cases(seed=11, per_group=8):
        shown = (
            "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        )
        line, _ = door([f"+{wrong}={shown}"])
        assert line is not None and f"did you mean {key}?" in line, (wrong, line)


def test_generator_keys_are_suggested_before_the_store_is_made() -> None:
    """The generator's own check (run before any run folder, src/data/preflight.py) names the
    key meant for each one-edit typo of each argument, and lists the arguments for a name close
    to none."""
    rng = np.random.default_rng(0)
    names = [k for k in synthetic_params() if k != "version"]
    for name in names:
        wrong = typo(name, rng)
        if wrong in names or any(edits(wrong, n) <= 1 for n in names if n != name):
            continue
        with pytest.raises(ConfigError) as error:
            synthetic_params(**{wrong: 1})
        assert f"did you mean data.synthetic.{name}?" in str(error.value), str(error.value)
    with pytest.raises(ConfigError) as error:
        synthetic_params(qqqqqq=1)
    assert all(n in str(error.value) for n in names), str(error.value)
