"""The README stays a short page for users; the figures live in docs/, each page under its command."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.table import BEGIN, END, write_into_page

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
SETUP = [
    "python3.11 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt && python -m training.fit",
    "python3.11 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt && python -m pytest",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


DATE = re.compile(r"20\d\d-\d\d")


def test_readme_is_short_and_opens_with_the_two_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text) <= 15_000, f"README.md has {len(text)} characters: move measurements into docs/"
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines() == SETUP
    assert text.index("```bash") < text.index("\n## "), "the set-up commands come before any section"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_link_to_a_file_or_section_of_the_project_resolves(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor:
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such heading in {linked.name}"
            assert not DATE.search(anchor), f"{page.name} links to {target}: a dated heading, which the next run renames"


def test_the_driving_page_is_for_users_short_with_headings_that_carry_no_date():
    text = (ROOT / "docs" / "driving.md").read_text(encoding="utf-8")
    assert len(text) <= 20_000, f"docs/driving.md has {len(text)} characters: what was tried goes in its one table"
    dated = [line for line in text.splitlines() if line.startswith("#") and DATE.search(line)]
    assert not dated, f"docs/driving.md: headings with dates break the links into them: {dated}"
    order = ["## How driving is judged", "## The default, seed by seed", "## How to reproduce it", "## What was tried"]
    assert [text.index(heading) for heading in order] == sorted(text.index(heading) for heading in order)


def test_every_picture_in_docs_is_shown_by_a_page():
    shown = "".join(page.read_text(encoding="utf-8") for page in [README, *PAGES])
    unused = [png.name for png in (ROOT / "docs").glob("*.png") if f"]({png.name})" not in shown and f"](docs/{png.name})" not in shown]
    assert not unused, f"pictures no page shows (delete them or show them): {unused}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "architecture.md"], ids=lambda p: p.name)
def test_every_page_of_figures_opens_with_the_command_that_regenerates_them(page):
    text = page.read_text(encoding="utf-8")
    first_table = text.index("\n|")
    assert "```bash\npython -m " in text[:first_table], f"{page.name}: the command comes before the first figure"
    assert re.search(r"20\d\d-\d\d-\d\d", text[:first_table]), f"{page.name}: the date of the run comes first too"


def test_the_benchmark_table_replaces_only_what_lies_between_its_markers(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Title\n\nprose above\n\n{BEGIN}\nold table\n{END}\n\nprose below\n", encoding="utf-8")
    write_into_page(page, "| new | table |\n")
    assert page.read_text(encoding="utf-8") == (
        f"# Title\n\nprose above\n\n{BEGIN}\n| new | table |\n{END}\n\nprose below\n")


@pytest.mark.parametrize("text", ["# no markers\n", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n"])
def test_a_page_without_its_two_markers_is_refused_and_left_as_it_was(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="needs one line"):
        write_into_page(page, "| table |")
    assert page.read_text(encoding="utf-8") == text


def test_the_docs_page_of_the_benchmarks_can_take_the_table():
    write_into_page(ROOT / "docs" / "benchmarks.md", "", dry_run=True)


def test_python_m_benchmarks_markdown_writes_the_run_with_its_date_and_machine(tmp_path, monkeypatch):
    import datetime
    import sys
    import types

    import benchmarks.__main__ as everything

    section = types.ModuleType("one_figure")
    section.run = lambda quick: [{"metric": "frames", "value": 294.0, "unit": "frames/s", "classic": 164.0, "ratio": 1.8}]
    monkeypatch.setitem(sys.modules, "one_figure", section)
    monkeypatch.setattr(everything, "SECTIONS", [("renderer", "one_figure")])
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\n```bash\npython -m benchmarks\n```\n\n{BEGIN}\nold\n{END}\n\nnotes\n")
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--markdown", str(page), "--model", str(tmp_path / "none")])
    assert everything.main() == 0
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\n```bash\npython -m benchmarks\n```\n\n") and text.endswith(f"{END}\n\nnotes\n")
    assert f"Measured on {datetime.date.today()} on " in text and " cores" in text and "load average" in text
    assert "| renderer | frames | 294 | frames/s | 164 | 1.80× |" in text and "old" not in text
