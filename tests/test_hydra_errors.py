"""Hydra's own composition and override errors are each one line that says what is true
(issue 22: ``callbacks=[default,nonexistent]``, ``-m hydra.job.chdir=true,false`` and
``hydra.run.dir=a,b`` got the project's line with an unrelated "expected key=value" part and no
list of the options). Generated: every config group x a drawn option it lacks (list groups also
inside a list beside their default), a few of Hydra's own keys swept with and without -m,
comma values of other keys without -m, and malformed words (no '=', a bad key, a bad value);
the line names the word given, lists the group's options as configs/ holds them, says why a
hydra.* key cannot be swept, and gives the generic forms only to a word without '='. Advice
that is an override composes. Fails on the previous code."""

import random
import string
import sys

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode

from door import ROOT, composed_run
from test_error_form import says_expected
from src.utils.composition_errors import composition_error
from src.utils.config_groups import LIST_GROUPS, selectable_groups

FORMS = "key=value, +key=value"
HYDRA_KEYS = {  # Hydra's own keys, with two values each of the type they hold
    "hydra.job.chdir": "true,false",
    "hydra.run.dir": "a,b",
    "hydra.sweep.dir": "/tmp/s1,/tmp/s2",
    "hydra.job.name": "x,y",
    "hydra.verbose": "true,false",
}


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))
    monkeypatch.setattr(sys, "argv", [str(ROOT / "src" / "train.py")])


def refusal(words: list[str], multirun: bool = False) -> str | None:
    """The line of Hydra's composition error for ``words`` (train.py; ``multirun``: composed
    as a ``-m`` command is), or None when they compose."""
    try:
        if not multirun:
            composed_run(words)
            return None
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            loader.load_configuration("train", words, run_mode=RunMode.MULTIRUN)
        return None
    except Exception as exc:  # noqa: BLE001  (what run_cli catches)
        line = composition_error(exc, words)
    assert "\n" not in line and says_expected(line), line
    return line


def options(group: str) -> list[str]:
    """The options of ``group``: the files of configs/<group>/, read here."""
    return sorted(p.stem for p in (ROOT / "configs" / group).glob("*.yaml"))


def drawn(rng: random.Random) -> str:
    return "no_" + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8)))


@pytest.mark.parametrize("group", selectable_groups())
def test_an_option_a_group_lacks_names_the_word_and_lists_the_options(group: str) -> None:
    """Each group x a drawn option (a list group also in a list beside its default): the line
    names the word and the option, lists exactly configs/<group>/'s files (the closest ones
    and their number for a large group) and has no generic forms."""
    rng = random.Random(group)
    option = drawn(rng)
    words = [f"{group}={option}"]
    if group in LIST_GROUPS:  # the trial's callbacks=[default,nonexistent]
        words.append(f"{group}=[{options(group)[0]},{option}]")
    for word in words:
        line = refusal([word])
        assert line is not None, word
        start = f"command line: {word}: {option} is not an option of the config group {group}; "
        assert line.startswith(start) and FORMS not in line, line
        files = options(group)
        if f"options (configs/{group}/): " in line:
            shown = line.split(f"options (configs/{group}/): ", 1)[1].split(" (")[0]
            assert shown.split(";")[0].split(", ") == files, line
        else:
            assert f"one of its {len(files)} options, the files of configs/{group}/" in line
            closest = line.split("(closest: ", 1)[1].split(")")[0].split(", ")
            assert set(closest) <= set(files) and closest, line


def test_a_typo_of_an_option_is_told_the_option_and_it_composes() -> None:
    """A one-letter typo of an option of each group: ``did you mean <option>?``, which
    composes."""
    for group in selectable_groups():
        name = next(o for o in options(group) if len(o) >= 4 and o != "none")
        line = refusal([f"{group}={name}x"])
        assert line is not None and f"did you mean {name}?" in line, line
        assert refusal([f"{group}={name}"]) is None, (group, name)


@pytest.mark.parametrize("key", sorted(HYDRA_KEYS))
@pytest.mark.parametrize("multirun", [True, False], ids=["-m", "no -m"])
def test_a_sweep_of_a_hydra_key_says_it_cannot_be_swept(key: str, multirun: bool) -> None:
    """``hydra.<key>=a,b``, with -m and without: names the word, says it cannot be swept,
    advises one value, which composes; no generic forms."""
    word = f"{key}={HYDRA_KEYS[key]}"
    line = refusal([word], multirun)
    assert line is not None and line.startswith(f"command line: {word}: {key} is one of"), line
    assert "cannot be swept (not even with -m)" in line and FORMS not in line, line
    first = HYDRA_KEYS[key].split(",")[0]
    assert f"expected one value ({key}={first})" in line, line
    assert refusal([f"{key}={first}"], multirun) is None
    if "one quoted string" in line:  # offered for a text setting only: it composes
        assert refusal([f"{key}='{HYDRA_KEYS[key]}'"], multirun) is None


@pytest.mark.parametrize("word", ["seed=1,2", "model.alpha=0.5,1", "data=wiki,uci"])
def test_a_comma_value_without_m_says_it_is_a_sweep(word: str) -> None:
    """Without -m: a sweep, which runs with -m; the advised single value composes."""
    line = refusal([word])
    assert line is not None and line.startswith(f"command line: {word}: a sweep over "), line
    assert "runs only with -m" in line and FORMS not in line, line
    key, value = word.split("=")
    assert f"({key}={value.split(',')[0]})" in line and refusal([word], multirun=True) is None
    assert refusal([f"{key}={value.split(',')[0]}"]) is None


def malformed(rng: random.Random) -> list[tuple[str, str]]:
    """(word, what the line must say) for drawn malformed words."""
    name = "".join(rng.choices(string.ascii_lowercase, k=5))
    return [
        (name, FORMS),  # no '=': the forms
        (f"{name}..x=1", "is not a key Hydra reads"),
        (f".{name}=1", "is not a key Hydra reads"),
        (f"{name}=interval(", "Hydra cannot read the value 'interval('"),
        (f"{name}=[a,b", "Hydra cannot read the value '[a,b'"),
        (f"seed=1={rng.randint(0, 9)}", "Hydra cannot read the value"),
        (f"{name}=${{", "Hydra cannot read the value '${'"),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_a_malformed_word_is_named_and_told_what_hydra_reads(seed: int) -> None:
    """Each drawn malformed word: the line names it and says what is wrong; the generic forms
    only when it has no '='."""
    for word, said in malformed(random.Random(seed)):
        line = refusal([word])
        assert line is not None and line.startswith(f"command line: {word}: "), (word, line)
        assert said in line and (FORMS in line) is ("=" not in word), (word, line)
        assert "See https://" not in line and "Config search path" not in line, line


def test_other_kinds_say_what_to_type_and_it_composes() -> None:
    """``+key`` of a key the configuration has, a group set to null, a list item by name."""
    line = refusal(["+trainer.max_epochs=3"])
    assert line.endswith("expected trainer.max_epochs=3"), line
    assert refusal(["trainer.max_epochs=3"]) is None
    for group in ("model", "logger", "callbacks"):
        line = refusal([f"{group}=null"])
        assert line is not None and ", ".join(options(group)) in line, line
        assert ("none turns it off" in line) is ("none" in options(group)), line
    line = refusal(["model.eval_ks.foo=3"])
    assert line is not None and "model.eval_ks is a list" in line, line
    assert refusal(["model.eval_ks.0=3"]) is None
