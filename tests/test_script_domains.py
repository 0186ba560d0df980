"""The scripts refuse what the data cannot back (issue 22, second trial): a store with
non-finite features read by similarity_stats.py, and every flag whose domain the data bounds
(``--val-size``, ``--vocab-size``, ``--n-train``, ``--topk``, ``--queries``/``--top``,
``report.py --margins``): one ``error:`` line naming the maximum (or the known names), exit 2,
no traceback, nothing written. Generated cases; the expected bounds computed here."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from report_runs import load_script, result, write

from src.data.splits import val_split
from src.data.store import write_store
from src.utils.errors import ConfigError

N = 30


def small_store(path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 30-item store (6-d image, 4-d text, 3 classes); returns its image and text."""
    image, text = rng.random((N, 6)), rng.random((N, 4))  # (N, 6), (N, 4)
    label = np.eye(3, dtype=np.uint8)[np.arange(N) % 3]  # (N, 3)
    splits = {"query": np.arange(5), "train": np.arange(5, N), "retrieval": np.arange(5, N)}
    write_store(path, image, text, label, splits, {"dataset": "wiki"})
    return image, text


def one_error(capsys, call) -> str:
    """Run ``call``; assert exit 2, nothing on stdout, no traceback, one line; return it."""
    with pytest.raises(SystemExit) as exit_:
        call()
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err, (out, err)
    (line,) = err.splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize("seed", range(4))
def test_similarity_stats_refuses_non_finite_features(tmp_path: Path, capsys, seed: int) -> None:
    """NaN/+Inf/-Inf put at random rows and columns of the image and/or text features: one
    line naming the store, the key and the first bad row (found here by a plain loop: image
    before text, as the store's check reads them); the store file is untouched."""
    script = load_script("similarity_stats")
    rng = np.random.default_rng(seed)
    path = tmp_path / "s.h5"
    image, text = small_store(path, rng)
    with h5py.File(path, "r+") as h5:
        for _ in range(int(rng.integers(1, 4))):
            key = str(rng.choice(["image", "text"]))
            row, col = int(rng.integers(N)), int(rng.integers(h5[key].shape[1]))
            h5[key][row, col] = rng.choice([np.nan, np.inf, -np.inf])
        features = {k: h5[k][()] for k in ("image", "text")}
    expected = None
    for key in ("image", "text"):
        bad = [r for r in range(N) if not all(np.isfinite(v) for v in features[key][r])]
        if bad:
            expected = (key, bad[0])
            break
    before = path.read_bytes()
    GlobalHydra.instance().clear()
    line = one_error(capsys, lambda: script.main(["data=wiki", f"data.path={path}"]))
    GlobalHydra.instance().clear()
    key, row = expected
    assert (
        line
        == f"error: similarity_stats.py: {path} [{key}]: expected finite values, found NaN/Inf "
        f"in row {row}"
    )
    assert path.read_bytes() == before


def test_similarity_stats_runs_on_a_finite_store(tmp_path: Path, capsys) -> None:
    script = load_script("similarity_stats")
    path = tmp_path / "s.h5"
    small_store(path, np.random.default_rng(0))
    GlobalHydra.instance().clear()
    assert script.main(["data=wiki", f"data.path={path}"]) == 0
    GlobalHydra.instance().clear()
    assert "nan" not in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(3))
def test_val_size_beyond_the_pool_is_refused(seed: int) -> None:
    """Generated splits (with and without retrieval items outside train): a --val-size up to
    the pool (retrieval minus train, else train; minus the queries: counted here with sets)
    is drawn in full, one more is refused naming the pool size; the default stays capped."""
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(10, 200))
        order = rng.permutation(n)
        n_query, n_train = int(rng.integers(1, n // 3)), int(rng.integers(1, n // 3))
        query, train = np.sort(order[:n_query]), np.sort(order[n_query : n_query + n_train])
        retrieval = np.sort(order[n_query:]) if rng.random() < 0.5 else train.copy()
        splits = {"query": query, "train": train, "retrieval": retrieval}
        outside = set(retrieval.tolist()) - set(train.tolist())
        pool = (outside or set(train.tolist())) - set(query.tolist())
        assert val_split(splits, seed, len(pool)).size == len(pool)
        with pytest.raises(ConfigError) as error:
            val_split(splits, seed, len(pool) + int(rng.integers(1, 10**5)))
        assert f": expected at most {len(pool)}, " in str(error.value)
        assert str(error.value).startswith("--val-size ")
        if round(0.1 * retrieval.size) >= 1:  # the default, min(1000, 10 %), stays capped
            assert val_split(splits, seed).size == min(round(0.1 * retrieval.size), len(pool))


def test_prepare_data_val_size_one_line(tmp_path: Path, capsys) -> None:
    """prepare_data.py arrays --val-size 100000 (the trial's value): one line naming the
    maximum, no store written."""
    script = load_script("prepare_data")
    rng = np.random.default_rng(0)
    for name, array in (("i", rng.random((40, 5))), ("t", rng.random((40, 3)))):
        np.save(tmp_path / f"{name}.npy", array)
    np.save(tmp_path / "l.npy", np.arange(40) % 4)
    args = ["arrays", "--image", f"{tmp_path}/i.npy", "--text", f"{tmp_path}/t.npy"]
    args += ["--labels", f"{tmp_path}/l.npy", "--query-size", "5", "--train-size", "20"]
    out = tmp_path / "o.h5"
    line = one_error(
        capsys, lambda: script.main([*args, "--out", str(out), "--val-size", "100000"])
    )
    # retrieval = all but the queries (35), train 20 of them: pool 15
    assert line == (
        "error: prepare_data.py: --val-size 100000: expected at most 15, the retrieval items "
        "outside the training set (the validation pool) that are not test queries"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.npy", "l.npy", "t.npy"]


def write_codes(path: Path, n_query: int, n_items: int, rng: np.random.Generator) -> Path:
    """A codes.h5 of eval.py's layout: 4 bits, 3 classes, store rows 0..."""
    with h5py.File(path, "w") as h5:
        for split, n in (("query", n_query), ("retrieval", n_items)):
            for m in ("image", "text"):
                h5[f"{split}/codes_{m}"] = rng.choice([-1, 1], size=(n, 4)).astype(np.int8)
            h5[f"{split}/label"] = np.eye(3, dtype=np.uint8)[np.arange(n) % 3]
            h5[f"{split}/index"] = np.arange(n, dtype=np.int64)
        h5.attrs.update({"dataset": "news", "source_files": "[]", "store_rows": n_query + n_items})
    return path


@pytest.mark.parametrize("seed", range(2))
def test_code_stats_topk_beyond_the_retrieval_items(tmp_path: Path, capsys, seed: int) -> None:
    """--topk up to the retrieval items of every file runs; one more than the smallest file
    holds is one line naming that file and its size."""
    script = load_script("code_stats")
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(3, 40)) for _ in range(3)]
    paths = [write_codes(tmp_path / f"c{i}.h5", 4, n, rng) for i, n in enumerate(sizes)]
    argv = [str(p) for p in paths]
    assert script.main([*argv, "--topk", str(min(sizes))]) == 0
    capsys.readouterr()
    smallest = paths[int(np.argmin(sizes))]
    line = one_error(capsys, lambda: script.main([*argv, "--topk", str(min(sizes) + 1)]))
    assert line == (
        f"error: code_stats.py: {smallest}: --topk {min(sizes) + 1}: expected at most "
        f"{min(sizes)}, the retrieval items of this file"
    )


@pytest.mark.parametrize("flag, split", [("--queries", "query"), ("--top", "retrieval")])
def test_show_retrieval_figure_flags_beyond_the_codes(tmp_path: Path, capsys, flag, split) -> None:
    """--queries beyond the queries, --top beyond the retrieval items of the codes.h5: one
    line naming the maximum, no PNG (checked before the raw items are read)."""
    script = load_script("show_retrieval")
    codes = write_codes(tmp_path / "c.h5", 3, 5, np.random.default_rng(0))
    n = {"query": 3, "retrieval": 5}[split]
    out, source = tmp_path / "g.png", tmp_path / "release"  # --out apart from --source
    source.mkdir()
    argv = [str(codes), "--source", str(source), "--out", str(out), "--queries", "1"]
    argv += [flag, str(n + 1)]  # the last --queries wins
    line = one_error(capsys, lambda: script.main(argv))
    what = "queries" if split == "query" else "retrieval items"
    expected = f"{flag} {n + 1}: expected at most {n}, the {what} of this file"
    assert line == f"error: show_retrieval.py: {codes}: {expected}"
    assert not out.exists()


def test_check_text_scaling_n_train_beyond_the_tags(tmp_path: Path, capsys) -> None:
    from scipy.io import savemat

    script = load_script("check_text_scaling")
    tags = tmp_path / "yall.mat"
    savemat(tags, {"YAll": (np.random.default_rng(0).random((12, 5)) < 0.3).astype(np.uint8)})
    line = one_error(capsys, lambda: script.main(["--tags", str(tags), "--n-train", "13"]))
    assert (
        line
        == f"error: check_text_scaling.py: {tags}: --n-train 13: expected at most 12, the items "
        "of YAll"
    )


def test_report_margins_must_name_a_method(tmp_path: Path, capsys) -> None:
    """--margins: a name outside configs/model is refused naming the known methods; a known
    method none of the runs used is refused naming the runs' methods; the default is kept
    quietly when absent."""
    report = load_script("report")
    root = tmp_path / "runs"
    for seed in (0, 1):
        write(root / f"d{seed}" / "results.json", result("djsrh", 16, seed))
    line = one_error(capsys, lambda: report.main([str(root), "--margins", "nosuchmethod"]))
    assert "argument --margins: expected one of ['agch', 'cca_itq'," in line
    assert line.endswith("got 'nosuchmethod' (see --help)")
    line = one_error(capsys, lambda: report.main([str(root), "--margins", "ucch"]))
    assert (
        line == "error: report.py: --margins ucch: expected a method among the runs read ['djsrh']"
    )
    assert report.main([str(root)]) == 0  # the default agch, absent: no margins, no error
    assert "| wiki | djsrh | - | 16 |" in capsys.readouterr().out
