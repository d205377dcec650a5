"""The documentation agrees with the catalogue and with itself: docs/DIAGNOSES.md is the one table of
diagnoses, the README's category counts are the catalogue's, every relative link of README.md and
docs/*.md reaches a file (and a heading), and the README stays a front door."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from tests.conftest import PROJECT

README = PROJECT / "README.md"
DIAGNOSES = PROJECT / "docs" / "DIAGNOSES.md"
PAGES = [README, *sorted((PROJECT / "docs").glob("*.md"))]
README_MAX_BYTES = 12_500
ROW = re.compile(r"^\| ([A-Z]+[0-9]+) \| (.*?) \| .* \| ([a-z]+|\(reporting\)) \|$", re.M)


def catalogue() -> dict[str, dict]:
    """The diagnoses as healthsuite/catalogue/catalogue.yaml writes them (read as data, not through the package)."""
    return yaml.safe_load((PROJECT / "healthsuite" / "catalogue" / "catalogue.yaml").read_text())["diagnoses"]


def title_pattern(template: str) -> re.Pattern[str]:
    """A catalogue title with its `{threshold}` placeholders standing for the value the table shows."""
    parts = re.split(r"\{[a-z_0-9]+\}", template)
    return re.compile("".join(re.escape(part) + ("(.+?)" if i < len(parts) - 1 else "") for i, part in enumerate(parts)) + r"\Z")


def diagnosis_rows() -> list[tuple[str, str, str, str]]:
    """(ID, title, category, severity) of every row of docs/DIAGNOSES.md; the category is the row's section."""
    rows = []
    for block in re.split(r"^## ", DIAGNOSES.read_text(), flags=re.M)[1:]:
        category = block.split()[0]  # "## booking (application flow)"
        rows += [(i, title, category, severity) for i, title, severity in ROW.findall(block)]
    return rows


def test_the_diagnoses_table_is_the_catalogue() -> None:
    entries = catalogue()
    rows = diagnosis_rows()
    assert [row[0] for row in rows] == list(entries), "docs/DIAGNOSES.md lists the catalogue's IDs, in its order"
    for diagnosis, title, category, severity in rows:
        entry = entries[diagnosis]
        assert title_pattern(entry["title"]).match(title), (diagnosis, title, entry["title"])
        assert category == entry["category"], (diagnosis, category, entry["category"])
        if severity == "(reporting)":  # a reporting diagnosis: its severity is low
            assert entry.get("reporting") is True and entry["severity"] == "low", diagnosis
        else:
            assert severity == entry["severity"] and not entry.get("reporting"), (diagnosis, severity, entry["severity"])


def test_there_is_one_table_of_diagnoses() -> None:
    """No page but docs/DIAGNOSES.md has rows of diagnoses with their severity (the README links the table
    instead of copying it; docs/demo.md's table of faults names diagnoses, not their severity)."""
    ids = set(catalogue())
    severity_row = re.compile(r"^\| ([A-Z]+[0-9]+) \|.*\| (?:critical|high|medium|low|\(reporting\)) \|$", re.M)
    for page in PAGES:
        if page != DIAGNOSES:
            rows = {m for m in severity_row.findall(page.read_text()) if m in ids}
            assert len(rows) < 10, f"{page.relative_to(PROJECT)} repeats the table of diagnoses: {sorted(rows)}"


def test_the_readme_category_counts_are_the_catalogues() -> None:
    counts = Counter(entry["category"] for entry in catalogue().values())
    text = README.read_text()
    table = dict(re.findall(r"^\| \[([a-z]+)\]\(docs/DIAGNOSES\.md#[a-z-]+\) \| ([0-9]+) \|$", text, re.M))
    assert {name: int(n) for name, n in table.items()} == dict(counts)
    assert f"all {sum(counts.values())}" in text


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()).lower()
    text = "".join(c for c in text if c in "- " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, fence, seen = set(), False, Counter()
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6} (.+)$", line)):
            base = slug(m.group(1))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    """Link targets of a page, outside code blocks and code spans."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("doc", PAGES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_every_relative_link_reaches_a_file_and_a_heading(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / unquote(path)).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(PROJECT)}")
    assert not broken, broken


def test_every_docs_page_is_in_the_readme_index() -> None:
    text = README.read_text()
    index = text[text.index("## Documentation"):]
    missing = [page.name for page in PAGES[1:] if f"(docs/{page.name})" not in index]
    assert not missing, f"docs pages a reader cannot find from the README: {missing}"


def test_the_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to a page of docs/"
