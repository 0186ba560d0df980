"""``+foo/bar=baz`` (Hydra's own hint for ``foo/bar=baz``) is a config group selection only
when the group exists; otherwise Hydra adds a top-level key ``foo/bar`` that nothing reads,
and the run trained to "completed" (fifth trial h06b). Generated over the forms ``+a/b=c``,
``+a/b/c=d``, ``++a/b=c`` and names under existing groups (``+model/foo=bar``,
``+trainer/x=1``): each is refused at the door naming the override; existing groups and
options still compose; an unknown option and a name mixing ``.`` and ``/`` are Hydra's
composition errors, one line (`composition_error`)."""

import random
import re
import string

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from src.utils.config_rules import check_config
from src.utils.errors import ConfigError
from src.utils.jobs import composition_error
from test_deleted_keys import ROOT, SMALL, composed, project_root  # noqa: F401  (fixture)

GROUPS = ("model", "trainer", "data", "callbacks", "logger", "debug", "experiment", "hydra")


def generated_overrides(n: int, seed: int) -> list[str]:
    """``n`` overrides adding a ``/`` name that is no config group."""
    rng = random.Random(seed)

    def word() -> str:
        return rng.choice(string.ascii_lowercase) + "".join(
            rng.choices(string.ascii_lowercase + "_", k=rng.randint(1, 6))
        )

    found = []
    for _ in range(n):
        first = rng.choice([*GROUPS, word(), word()])
        parts = [first] + [f"zz{word()}" for _ in range(rng.randint(1, 2))]
        value = rng.choice(["baz", "1", "0.5", "true", "null"])
        found.append(f"{rng.choice(['+', '++'])}{'/'.join(parts)}={value}")
    return found


def test_a_slash_name_that_is_no_group_is_refused() -> None:
    cases = ["+foo/bar=baz", "+a/b/c=d", "++a/b=c", "+model/foo=bar", "+trainer/x=1"]
    for override in cases + generated_overrides(8, seed=30):
        key = override.lstrip("+").partition("=")[0]
        cfg = composed([*SMALL, override])
        assert key in cfg  # Hydra made it a plain key: what the check must catch
        with pytest.raises(ConfigError, match=rf"^{re.escape(override)}: {key} is not"):
            check_config(cfg)


def test_existing_groups_and_options_still_compose() -> None:
    for override in ["model=cmfh", "trainer=cpu", "logger=csv", "hydra/launcher=basic"]:
        check_config(composed([*SMALL, override]))


@pytest.mark.parametrize(
    "override", ["+experiment=nope", "model=nope", "+a.b/c=d", "+a/b.c=d", "+debug=nope"]
)
def test_an_unknown_option_or_a_mixed_name_is_one_line(override: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        with pytest.raises(Exception) as caught:
            compose("train", overrides=[override])
    line = composition_error(caught.value)
    assert "\n" not in line and line.startswith("command line: ")
    assert override.lstrip("+").partition("=")[0].split("/")[0].split(".")[0] in line
