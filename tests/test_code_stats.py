"""scripts/code_stats.py on a hand-made codes.h5: agreement, balance and mAP by hand."""

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def code_stats():
    spec = importlib.util.spec_from_file_location("code_stats", ROOT / "scripts" / "code_stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_codes(path: Path) -> Path:
    """2 queries, 3 retrieval items, 2 bits, 2 classes."""
    data = {
        "query/codes_image": [[1, 1], [-1, -1]],
        "query/codes_text": [[1, -1], [-1, -1]],  # 3 of 4 bits agree
        "query/label": [[1, 0], [0, 1]],
        "retrieval/codes_image": [[1, 1], [-1, -1], [1, -1]],
        "retrieval/codes_text": [[1, 1], [-1, -1], [1, -1]],  # all agree
        "retrieval/label": [[1, 0], [0, 1], [0, 1]],
    }
    with h5py.File(path, "w") as h5:
        for key, value in data.items():
            h5[key] = np.asarray(value, dtype=np.int8 if "codes" in key else np.uint8)
    return path


def test_stats_by_hand(code_stats, tmp_path: Path, capsys) -> None:
    stats = code_stats.code_stats(code_stats.load(write_codes(tmp_path / "codes.h5")), topk=2)
    assert stats["agreement_query"] == 0.75 and stats["agreement_retrieval"] == 1.0
    # bit means over retrieval: bit 1 (1 - 1 + 1) / 3, bit 2 (1 - 1 - 1) / 3; balance is
    # 1 - mean |bit mean| = 1 - 1/3 (1: balanced), the meaning training logs
    assert stats["bit_balance_image"] == pytest.approx(2 / 3)
    assert stats["distinct_image"] == 1.0  # 3 different codes of 3
    # I->T, top 2 (stable ties by index). Query 0 (1, 1), class 0: distances 0, 2, 1 -> items
    # 0, 2; relevant: item 0 at position 1 -> AP 1. Query 1 (-1, -1), class 1: distances 2, 0,
    # 1 -> items 1, 2, both relevant -> AP 1. mAP 1.
    assert stats["i2t_map@2"] == 1.0
    # T->I. Query 0 (1, -1), class 0: distances 1, 1, 0 -> items 2, 0 (tie 0 before 1);
    # relevant item 0 at position 2, rank 1 -> AP 1/2. Query 1 as above: AP 1. mAP 0.75.
    assert stats["t2i_map@2"] == 0.75
    assert code_stats.main([str(tmp_path / "codes.h5"), "--topk", "2"]) == 0
    assert "| 0.7500 | 1.0000 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "rows, balance",
    [
        ([[1, 1], [-1, -1]], 1.0),  # each bit splits the items in half
        ([[1, -1], [1, -1]], 0.0),  # constant bits
        ([[1, 1], [1, -1], [1, 1], [-1, 1]], 0.5),  # bit means 1/2 and 1/2
    ],
)
def test_bit_balance_is_one_when_balanced(code_stats, tmp_path: Path, rows, balance) -> None:
    """One meaning everywhere: 1 - mean over bits of |mean over items| (1 balanced)."""
    codes = np.asarray(rows, dtype=np.int8)
    pair = {"codes_image": codes, "codes_text": codes, "label": np.eye(len(rows), dtype=np.uint8)}
    stats = code_stats.code_stats({"query": pair, "retrieval": pair}, topk=1)
    assert stats["bit_balance_image"] == pytest.approx(balance)


def test_missing_codes_is_one_line(code_stats, tmp_path: Path, capsys) -> None:
    path = tmp_path / "codes.h5"
    with h5py.File(path, "w") as h5:
        h5["query/codes_image"] = np.ones((1, 2), dtype=np.int8)
    with pytest.raises(SystemExit) as exit_:
        code_stats.main([str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith(f"error: code_stats.py: {path} [query/codes_text]: missing")
        and "\n" not in err
    )
