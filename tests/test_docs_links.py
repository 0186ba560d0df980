"""Links in the README and docs/*.md point at files of the repository.

A report regenerated with ``--plots-dir`` outside ``docs/`` once left image links into a
temporary folder; this walks every Markdown link and image of the committed docs instead of
checking that one case.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and ![alt](target); the target stops at whitespace or ')'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def local_targets(path: Path) -> list[str]:
    """Link targets of one Markdown file that name a local path (no URL, no bare anchor)."""
    targets = [m.group(1) for m in LINK.finditer(path.read_text(encoding="utf-8"))]
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in local_targets(doc):
        resolved = (doc.parent / target).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links to missing or outside files: {broken}"


def test_the_link_pattern_finds_images_and_links() -> None:
    text = "see ![plot](figures/a.png) and [model](model.md#x), not [web](https://x.org)"
    found = [m.group(1) for m in LINK.finditer(text)]
    assert found == ["figures/a.png", "model.md#x", "https://x.org"]
