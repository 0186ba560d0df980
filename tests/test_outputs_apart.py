"""No script writes over what it reads (issue 22, trial 9: ``report.py <run> --out
<run>/results.json --overwrite`` replaced the results.json it read; ``archive_results.py <run>
--dest <run>`` nested a copy inside the source run). Generated: every script that reads and
writes x each of its outputs x each way an output can meet an input -- the same path, a link
to it, a ``..`` path to it, a path inside an input folder, an output folder that holds an
input -- with and without --overwrite: one line naming the output and its flag, exit 2,
every file as it was (src/utils/outputs.py `check_apart`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_gallery import make_codes, release, write_codes  # noqa: F401  (release: a fixture)
from report_runs import load_script, result, write

Case = tuple[str, list[str], Path, str]  # script, argv, the output named, its flag


def _run(tmp: Path) -> Path:
    """A run folder with its results.json and a curves.json."""
    write(tmp / "runs" / "r" / "results.json", result("agch", 16, 0))
    (tmp / "runs" / "r" / "curves.json").write_text("{}\n")
    return tmp / "runs" / "r"


def _ways(source: Path, tmp: Path) -> dict[str, Path]:
    """The paths that reach the file or folder ``source`` again."""
    (tmp / "links").mkdir(exist_ok=True)
    link = tmp / "links" / f"to_{source.name}"
    link.symlink_to(source)
    return {
        "same": source,
        "link": link,
        "dotdot": source.parent / ".." / source.parent.name / source.name,
    }


def report(flag: str, way: str) -> Callable[[Path, tuple], Case]:
    def build(tmp: Path, gallery: tuple) -> Case:
        run = _run(tmp)
        if flag == "--plots-dir":
            out = {"inside": run / "plots", **_ways(run, tmp)}[way]
        else:
            out = {"inside": run / "curves.json", **_ways(run / "results.json", tmp)}[way]
        return "report", [str(tmp / "runs"), flag, str(out)], out, flag

    return build


def report_paper(tmp: Path, gallery: tuple) -> Case:
    _run(tmp)
    paper = tmp / "paper.json"
    paper.write_text("{}\n")
    return (
        "report",
        [str(tmp / "runs"), "--paper", str(paper), "--out", str(paper)],
        paper,
        "--out",
    )


def archive(way: str) -> Callable[[Path, tuple], Case]:
    def build(tmp: Path, gallery: tuple) -> Case:
        if way == "holds":  # the run lies inside its own folder of the archive
            run = tmp / "results" / "wiki" / "agch" / "32bit" / "seed0" / "inner"
            write(run / "results.json", result("agch", 32, 0))
            target = tmp / "results" / "wiki" / "agch" / "32bit" / "seed0"
            return "archive_results", [str(run), "--dest", str(tmp / "results")], target, "--dest"
        write(tmp / "run" / "results.json", result("agch", 32, 0))
        dest = {"inside": tmp / "run" / "archive", **_ways(tmp / "run", tmp)}[way]
        return "archive_results", [str(tmp / "run"), "--dest", str(dest)], dest, "--dest"

    return build


def prepare(way: str) -> Callable[[Path, tuple], Case]:
    def build(tmp: Path, gallery: tuple) -> Case:
        if way == "inside":  # a store written into the release folder it converts
            (tmp / "release").mkdir()
            out = tmp / "release" / "wiki.h5"
            return (
                "prepare_data",
                ["wiki", "--source", str(tmp / "release"), "--out", str(out)],
                out,
                "--out",
            )
        rng = np.random.default_rng(0)
        argv = ["arrays", "--query-size", "10", "--train-size", "30"]
        for name, shape in (("image", (60, 5)), ("text", (60, 4)), ("labels", (60,))):
            np.save(tmp / f"{name}.npy", rng.integers(0, 3, shape).astype(np.float32))
            argv += [f"--{name}", str(tmp / f"{name}.npy")]
        out = _ways(tmp / "text.npy", tmp)[way]
        return "prepare_data", [*argv, "--out", str(out)], out, "--out"

    return build


def extract(way: str) -> Callable[[Path, tuple], Case]:
    def build(tmp: Path, gallery: tuple) -> Case:
        images = np.random.default_rng(1).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8)
        (tmp / "imgs").mkdir()
        np.save(tmp / "imgs" / "images.npy", images)
        if way == "inside":
            source, out = tmp / "imgs", tmp / "imgs" / "f.npy"
        else:
            source = tmp / "imgs" / "images.npy"
            out = _ways(source, tmp)[way]
        argv = ["--images", str(source), "--device", "cpu", "--out", str(out)]
        return "extract_features", argv, out, "--out"

    return build


def gallery(way: str) -> Callable[[Path, tuple], Case]:
    def build(tmp: Path, release_: tuple) -> Case:
        folder, attrs = release_
        codes = write_codes(tmp / "codes.h5", make_codes(np.random.default_rng(0), 6), attrs)
        out = folder / "g.png" if way == "inside" else _ways(codes, tmp)[way]
        argv = [str(codes), "--source", str(folder), "--top", "3", "--out", str(out)]
        return "show_retrieval", argv, out, "--out"

    return build


WAYS = ("same", "link", "dotdot", "inside")
CASES: dict[str, Callable] = {
    **{
        f"report {f} {w}": report(f, w) for f in ("--out", "--update", "--plots-dir") for w in WAYS
    },
    "report --out paper": report_paper,
    **{f"archive_results --dest {w}": archive(w) for w in (*WAYS, "holds")},
    **{f"prepare_data --out {w}": prepare(w) for w in WAYS},
    **{f"extract_features --out {w}": extract(w) for w in WAYS},
    **{f"show_retrieval --out {w}": gallery(w) for w in WAYS},
}


def state(folder: Path) -> dict[str, str]:
    """Every path below ``folder`` with the sha256 of a file's bytes."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        )
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_that_meets_an_input_is_refused(
    case: str, overwrite: bool, release, tmp_path: Path, capsys  # noqa: F811
) -> None:
    name, argv, output, flag = CASES[case](tmp_path, release)
    folders = [tmp_path, release[0]]
    before = [state(f) for f in folders]
    capsys.readouterr()
    try:
        status = load_script(name).main([*argv, *(["--overwrite"] if overwrite else [])])
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    head = f"error: {name}.py: {output} [{flag}]: expected an output apart from the inputs"
    assert lines[0].startswith(head), err
    assert [state(f) for f in folders] == before  # nothing read is changed, nothing written
