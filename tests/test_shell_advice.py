"""The forms advised for a comma-separated value without -m (trial 8 X02b) work when typed into
a POSIX shell as printed: each is one shell word, and Hydra reads it as the advice says (one
value, a list, or the whole text as one string). Generated values x keys, run through bash."""

from __future__ import annotations

import re
import subprocess

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from src.utils.hydra_errors import sweep_value

KEYS = ["ckpt_path", "data.path", "codes_path", "+extra.note"]
PARTS = ["/tmp/a", "b/last.ckpt", "x y", "$HOME", "*.h5", "c&d", "e;f", "ü ✓", "~/g", "h!i"]
PARTS += ["m|n", "k%l", "g@h", "p:q", "r\\s", "t?u", "v-w+x"]
VALUES = sorted({f"{a},{b}" for a in PARTS for b in PARTS if a != b}) + ["a,b,c", "1,2"]
VALUES = VALUES + ["/tmp/trial8cases/a,b/last.ckpt", "a.h5,b.h5"]


def swept(value: str) -> bool:
    """Whether Hydra reads ``x=value`` as a sweep (the values the advice is given for)."""
    try:
        (override,) = OverridesParser.create().parse_overrides([f"x={value}"])
    except Exception:  # noqa: BLE001  a value Hydra's grammar refuses before any sweep
        return False
    return override.is_sweep_override()


VALUES = [v for v in VALUES if swept(v)]


def typed(word: str) -> list[str]:
    """The argv words bash makes of ``word`` typed as printed."""
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {word}"], capture_output=True, text=True, check=True
    )
    return done.stdout.split("\0")[:-1]


def advised(key: str, value: str) -> str:
    """sweep_value's line for ``key=value`` given without -m (Hydra's "Ambiguous value")."""
    text = f"Ambiguous value for argument '{key}={value}' 1. To use a sweep, use -m"
    line = sweep_value(text, ValueError(text), [f"{key}={value}"])
    assert line is not None
    return line


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", VALUES)
def test_every_advised_form_works_typed_into_a_shell(key: str, value: str) -> None:
    line = advised(key, value)
    forms = re.findall(r"\(([^()]*)\)", line.split("expected", 1)[1])[1:]  # after -m's
    assert len(forms) == 3, line  # one value, a list, the text as one string
    items = [v.strip() for v in value.split(",")]
    wanted = [items[0], items, value]
    parser = OverridesParser.create()
    for form, want in zip(forms, wanted):
        words = typed(form)
        assert len(words) == 1, (form, words)
        (override,) = parser.parse_overrides(words)
        assert override.key_or_group == key.lstrip("+"), (form, override)
        assert not override.is_sweep_override(), (form, words)
        got = override.value()  # Hydra reads 1 as a number: compared as text
        got = [str(x) for x in got] if isinstance(got, list) else str(got)
        assert got == want, (form, words, got)
