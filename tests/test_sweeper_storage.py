"""hydra.sweeper.storage is a usable SQLite file or null, nothing else (trial 9, fault 15:
``hydra.sweeper.storage=postgresql://nobody@nohost/db`` passed the door and ended in Optuna's
raw "Failed to import DB access module" under "expected overrides Hydra composes"). Generated:
server databases of every scheme SQLAlchemy knows (their drivers importable here or not),
redis, SQLite URLs without a file or with a driver that cannot be imported, and garbage: exit
2, one line naming ``hydra.sweeper.storage``, no sweep folder, no file. Fails on the previous
code for the server URLs, redis, ``:memory:`` and the unimportable driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from door import ROOT, sweep_door

pytestmark = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("hydra_plugins.hydra_optuna_sweeper"),
    reason="hydra-optuna-sweeper is the optional [sweep] extra",
)
SEARCH = ["hparams_search=optuna", "trainer=cpu"]
SERVERS = ("postgresql", "postgresql+psycopg2", "mysql", "mysql+pymysql", "mssql", "oracle")
REFUSED = [
    *(f"{scheme}://nobody@nohost/db" for scheme in SERVERS),
    "redis://localhost:6379",
    "sqlite:///:memory:",
    "sqlite://",
    "sqlite+pysqlcipher:///{tmp}/s.db",  # a driver this machine cannot import
    "garbage",
    "http://example.org/db",
    "::::",
    # folders that take no file although a permission test passes for root (trial 11 G5:
    # sqlite3's "unable to open database file" came after the door), special files
    "sqlite:////proc/x.db",
    "sqlite:////proc/self/x.db",
    "sqlite:////sys/x.db",
    "sqlite:////dev/null",
    "sqlite:///{tmp}",
]


@pytest.fixture(autouse=True)
def project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_ROOT", str(ROOT))


@pytest.mark.parametrize("value", REFUSED)
def test_a_storage_other_than_an_sqlite_file_is_refused_at_the_door(value, tmp_path) -> None:
    word = f"hydra.sweeper.storage={value.format(tmp=tmp_path)}"
    status, lines = sweep_door([*SEARCH, word], tmp_path / "logs")
    assert status == 2 and len(lines) == 1, (word, lines)
    named = ("error: hydra.sweeper.storage: ", f"error: command line: {word}: ")
    assert lines[0].startswith(named) and "expected" in lines[0], lines
    assert sorted(tmp_path.rglob("*")) == [], word


def test_an_sqlite_file_in_an_existing_folder_passes(tmp_path: Path) -> None:
    word = f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db"
    assert sweep_door([*SEARCH, word], tmp_path / "logs") == (0, [])
    assert sorted(tmp_path.rglob("*")) == []
