"""The documentation the package cites is the documentation it ships.

Every file of the repository may point readers only at documents that exist
here: no internal notes from outside the repository, no dangling relative
link in README.md or docs/, no docs/ page that is not there.
"""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ("README.md", "api.md", "measures.md", "traces.md", "references.md", "sweep.md", "shim.md",
         "hardening.md")

# Spelt in pieces so that this file does not match itself.
FORBIDDEN = re.compile(
    "|".join([r"\bDESIGN" + r"\.md", r"\bREFERENCES" + r"\.md", r"\.\./" + "shared", "/work/" + "shared"]).encode()
)
# Folders of local builds and environments, never part of the repository.
LOCAL = {".git", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache", ".ipynb_checkpoints"}


def repository_files() -> list[Path]:
    """The files of the checkout (tracked or new, not ignored), or of the
    unpacked sdist when there is no git repository."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout
        files = [ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in ROOT.rglob("*")
                 if not any(part in LOCAL or part.startswith(".venv") or part.endswith(".egg-info")
                            for part in p.relative_to(ROOT).parts)]
    files = [p for p in files if p.is_file()]
    assert any(p.name == "pyproject.toml" for p in files) and len(files) > 20
    return files


def test_no_file_cites_documents_outside_the_repository():
    offenders = []
    for path in repository_files():
        for lineno, line in enumerate(path.read_bytes().splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.decode(errors='replace').strip()}")
    assert offenders == []


def test_the_docs_pages_exist():
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        assert text.startswith("# "), page
        assert len(text) > 800, page


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # not code blocks
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{p}" for p in PAGES])
def test_relative_links_point_to_existing_files(page):
    path = ROOT / page
    links = relative_links(path)
    missing = [t for t in links if not (path.parent / t.split("#")[0]).exists()]
    assert missing == []


def test_the_readme_and_the_index_link_every_page():
    readme_links = {(ROOT / t.split("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    index_links = {(DOCS / t.split("#")[0]).resolve() for t in relative_links(DOCS / "README.md")}
    for page in PAGES[1:]:
        assert (DOCS / page).resolve() in readme_links, page
        assert (DOCS / page).resolve() in index_links, page


DOC_MENTION = re.compile(rb"\bdocs/([A-Za-z0-9_.-]+\.md)")


def test_every_docs_page_that_a_file_names_exists():
    named = {}
    for path in repository_files():
        for m in DOC_MENTION.finditer(path.read_bytes()):
            named.setdefault(m.group(1).decode(), str(path.relative_to(ROOT)))
    assert "api.md" in named  # the package points users at its contract
    missing = {page: where for page, where in named.items() if not (DOCS / page).is_file()}
    assert missing == {}
