"""Documentation: links resolve, the README stays short, no references to documents outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 160
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# Design notes that live outside the repository; a file naming them points readers nowhere. Built from parts
# so that this file does not name them itself.
OUTSIDE_DOCUMENTS = [
    name + ".md" for name in ("SOURCES", "IDE", "DERE", "HPC", "ARCHITECTURE", "EVALUATION", "PERFORMANCE", "STYLE")
]
OUTSIDE_PATTERN = re.compile(rb"\b(" + b"|".join(re.escape(n.encode()) for n in OUTSIDE_DOCUMENTS) + rb")\b")
ISSUE_PATTERN = re.compile(rb"\bissues? #?\d+", re.IGNORECASE)

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target): one level of parentheses inside the target (DOIs such as 10.1016/S0098-3004(96)00026-X).
LINK = re.compile(r"\[[^\]]*\]\(((?:[^()\s]|\([^()\s]*\))+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """Markdown without code blocks and inline code (links there are examples, not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = base = _slug(heading)
        n = 0
        while slug in anchors:
            n += 1
            slug = f"{base}-{n}"
        anchors.add(slug)
    return anchors


def _links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text()))


def _repository_files() -> list[Path]:
    """Tracked and untracked, not ignored files of the checkout (outputs and environments are ignored)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot list the repository's files")
    return [REPO / name for name in out.decode().split("\0") if name and (REPO / name).is_file()]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https://, mailto: ...: public sources, not checked here
            if not target.startswith(("https://", "http://")):
                broken.append(f"{target} (only http(s) links to public sources)")
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.relative_to(REPO)})")
    assert not broken, f"{doc.relative_to(REPO)}: broken links:\n  " + "\n  ".join(broken)


def test_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move details into docs/ and link them"
    )


def test_every_doc_is_linked_from_the_readme() -> None:
    linked = {(REPO / target.partition("#")[0]).resolve() for target in _links(REPO / "README.md")}
    unlinked = [str(p.relative_to(REPO)) for p in DOCS[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs not linked from README.md (a newcomer would not find them): {unlinked}"


def test_no_references_to_documents_outside_the_repository() -> None:
    offending = []
    for path in _repository_files():
        found = sorted({m.decode() for m in OUTSIDE_PATTERN.findall(path.read_bytes())})
        if found:
            offending.append(f"{path.relative_to(REPO)}: {', '.join(found)}")
    assert not offending, (
        "these files refer to documents outside the repository; state the fact and cite its public source "
        "(paper, product user guide, URL) instead:\n  " + "\n  ".join(offending)
    )


def test_no_issue_numbers() -> None:
    offending = []
    for path in _repository_files():
        found = sorted({m.group(0).decode() for m in ISSUE_PATTERN.finditer(path.read_bytes())})
        if found:
            offending.append(f"{path.relative_to(REPO)}: {', '.join(found)}")
    assert not offending, (
        "these files cite issue numbers, which point outside the repository; state the fact instead:\n  "
        + "\n  ".join(offending)
    )
