"""Links in the README and docs/*.md point at files of the repository.

A report regenerated with ``--plots-dir`` outside ``docs/`` once left image links into a
temporary folder; this walks every Markdown link and image of the committed docs instead of
checking that one case.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted(ROOT.glob("*.md")), *sorted((ROOT / "docs").rglob("*.md"))]
# [text](target), ![alt](target), a reference definition "[label]: target" and an HTML
# src="target" / href="target"; the target stops at whitespace, ')' or a quote
LINK = re.compile(
    r"!?\[[^\]]*\]\(([^)\s]+)\)|^\s*\[[^\]]+\]:\s+(\S+)|(?:src|href)=\"([^\"]+)\"",
    re.MULTILINE,
)


def targets(text: str) -> list[str]:
    """Every link target of a Markdown text, in order."""
    return [next(g for g in m.groups() if g is not None) for m in LINK.finditer(text)]


def local_targets(path: Path) -> list[str]:
    """Link targets of one Markdown file that name a local path (no URL, no bare anchor)."""
    found = targets(path.read_text(encoding="utf-8"))
    return [t.split("#")[0] for t in found if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in local_targets(doc):
        resolved = (doc.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing or outside files: {broken}"


def test_the_link_pattern_finds_every_link_form() -> None:
    text = (
        "see ![plot](figures/a.png) and [model](model.md#x), not [web](https://x.org)\n"
        "[ref]: data.md\n"
        '<img src="figures/b.png"> <a href="method.md">m</a>\n'
    )
    assert targets(text) == [
        "figures/a.png",
        "model.md#x",
        "https://x.org",
        "data.md",
        "figures/b.png",
        "method.md",
    ]
