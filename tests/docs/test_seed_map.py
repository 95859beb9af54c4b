"""docs/seed.md, the map from the course hand-in to this repository, cannot rot silently.

Every link must reach a file or folder of the repository (and a heading, when it names one, with the
anchor GitHub would give it); every row of a map table must say where the element lives, whether it is
the same, changed or replaced, and why when it is not the same; the excerpt of our load-test Job must
still be in that Job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_MAP = REPO_ROOT / "docs" / "seed.md"
STATUSES = {"same", "changed", "replaced"}
# The hand-in's section terms, so a reader can search for them.
SECTION_TERMS = ["Containerisierung", "Infrastrukturerstellung", "Kubernetes-Konfiguration", "Versionierung"]
SECTION_TERMS += ["Skalierung", "Lasttest"]
EXCERPT_MARK = re.compile(r"#\s*excerpt of (\S+)")
HTML_HREF = re.compile(r"""href=["']([^"']+)["']""")


def markdown() -> MarkdownIt:
    # GitHub's heading anchors on every level, and tables as GitHub renders them.
    return MarkdownIt("commonmark").enable("table").use(anchors_plugin, min_level=1, max_level=6)


@cache
def tokens_of(path: Path) -> list[Token]:
    return markdown().parse(path.read_text(encoding="utf-8"))


@cache
def anchors_of(path: Path) -> frozenset[str]:
    return frozenset(str(token.attrGet("id")) for token in tokens_of(path) if token.type == "heading_open")


def links_in(inline: Token) -> list[str]:
    return [str(child.attrGet("href")) for child in inline.children or [] if child.type == "link_open"]


def all_links(path: Path) -> list[str]:
    links: list[str] = []
    for token in tokens_of(path):
        if token.type == "inline":
            links += links_in(token)
        elif token.type in ("html_block", "html_inline"):
            links += HTML_HREF.findall(token.content)
    return links


def link_problem(source: Path, href: str) -> str | None:
    """Why href, written in source, does not resolve inside the repository; None when it does."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc:
        return f"{href}: only links into this repository are allowed here"
    target = (source.parent / unquote(parts.path)).resolve() if parts.path else source
    if not target.is_relative_to(REPO_ROOT):
        return f"{href}: points outside the repository"
    if not target.exists():
        return f"{href}: {target.relative_to(REPO_ROOT)} does not exist"
    if parts.fragment:
        if target.suffix != ".md":
            return f"{href}: an anchor into {target.relative_to(REPO_ROOT)}, which is not Markdown"
        if parts.fragment not in anchors_of(target):
            return f"{href}: {target.relative_to(REPO_ROOT)} has no heading with the anchor #{parts.fragment}"
    return None


@dataclass
class Row:
    line: int
    cells: list[str]
    links: list[str]


def map_tables(path: Path) -> list[list[Row]]:
    """The tables whose header is `hand-in | here | | why`, as rows of plain cell text and their links."""
    tables: list[list[Row]] = []
    tokens = tokens_of(path)
    for start, token in enumerate(tokens):
        if token.type != "table_open":
            continue
        end = next(i for i in range(start, len(tokens)) if tokens[i].type == "table_close")
        header = [t.content.strip() for t in tokens[start:end] if t.type == "inline"][:4]
        if header != ["hand-in", "here", "", "why"]:
            continue
        rows: list[Row] = []
        for i in range(start, end):
            if tokens[i].type != "tr_open" or tokens[i + 1].type == "th_open":
                continue
            close = next(j for j in range(i, end) if tokens[j].type == "tr_close")
            cells = [t for t in tokens[i:close] if t.type == "inline"]
            line = (tokens[i].map or [0])[0] + 1
            here = links_in(cells[1]) if len(cells) > 1 else []
            rows.append(Row(line, [c.content.strip() for c in cells], here))
        tables.append(rows)
    return tables


def row_problems(row: Row) -> list[str]:
    where = f"docs/seed.md line {row.line}"
    if len(row.cells) != 4:
        return [f"{where}: {len(row.cells)} cells, expected hand-in | here | status | why"]
    element, _here, status, why = row.cells
    problems = []
    if not element:
        problems.append(f"{where}: no hand-in element")
    if not row.links:
        problems.append(f"{where}: `{element}` does not link where it lives here")
    if status not in STATUSES:
        problems.append(f"{where}: status {status!r} is not one of {sorted(STATUSES)}")
    elif status != "same" and not why:
        problems.append(f"{where}: `{element}` is {status} without a reason")
    return problems


def test_every_link_on_the_map_resolves():
    problems = [p for href in all_links(SEED_MAP) if (p := link_problem(SEED_MAP, href))]
    assert not problems, "\n".join(problems)


def test_every_row_says_where_whether_and_why():
    tables = map_tables(SEED_MAP)
    rows = [row for table in tables for row in table]
    # The hand-in has over a hundred elements: far fewer rows means a table was lost or no longer parses.
    assert len(tables) >= 15, len(tables)
    assert len(rows) >= 100, len(rows)
    problems = [p for row in rows for p in row_problems(row)]
    assert not problems, "\n".join(problems)


def test_the_hand_ins_section_terms_are_headings():
    headings = [
        tokens_of(SEED_MAP)[i + 1].content
        for i, token in enumerate(tokens_of(SEED_MAP))
        if token.type == "heading_open"
    ]
    missing = [term for term in SECTION_TERMS if not any(term in heading for heading in headings)]
    assert not missing, f"no heading of docs/seed.md names {missing}"


@pytest.mark.parametrize("source", ["README.md", "apps/README.md"])
def test_the_readmes_link_to_the_map(source):
    path = REPO_ROOT / source
    to_map = [href for href in all_links(path) if urlsplit(href).path.endswith("docs/seed.md")]
    assert to_map, f"{source} does not link docs/seed.md"
    problems = [p for href in to_map if (p := link_problem(path, href))]
    assert not problems, "\n".join(problems)


def excerpts(path: Path) -> list[tuple[str, list[str]]]:
    """Code blocks whose first line is `# excerpt of <path>`: (path, the other lines)."""
    found = []
    for token in tokens_of(path):
        lines = token.content.splitlines() if token.type == "fence" else []
        if lines and (mark := EXCERPT_MARK.fullmatch(lines[0].strip())):
            found.append((mark.group(1), [line.rstrip() for line in lines[1:] if line.strip()]))
    return found


def missing_in_order(excerpt: list[str], source: list[str]) -> list[str]:
    missing, position = [], 0
    for line in excerpt:
        try:
            position = source.index(line, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def test_the_load_test_excerpt_is_still_our_job():
    found = excerpts(SEED_MAP)
    assert [path for path, _ in found] == ["apps/loadtest/job.yaml"]
    for path, lines in found:
        source = [line.rstrip() for line in (REPO_ROOT / path).read_text(encoding="utf-8").splitlines()]
        missing = missing_in_order(lines, source)
        heading = f"docs/seed.md's excerpt of {path} has lines that {path} lacks (or not in order):"
        assert not missing, "\n".join([heading, *missing])


def test_the_checks_find_what_they_guard(tmp_path):
    """Each check on a small page of its own: a broken link, a missing anchor, a row without a reason."""
    (tmp_path / "target.md").write_text("# Target\n\n## A heading: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "| hand-in | here | | why |\n| --- | --- | --- | --- |\n"
        "| a | [t](target.md#a-heading-with-code) | same | |\n"
        "| b | [t](target.md) | changed | |\n"
        "| c | none | same | |\n"
        "| d | [t](target.md) | moved | somewhere |\n"
    )
    rows = map_tables(page)[0]
    assert [row_problems(row) for row in rows[:1]] == [[]]
    assert "without a reason" in row_problems(rows[1])[0]
    assert "does not link" in row_problems(rows[2])[0]
    assert "is not one of" in row_problems(rows[3])[0]
    source = REPO_ROOT / "docs" / "page.md"
    assert link_problem(source, "../README.md#quick-start") is None
    assert "does not exist" in link_problem(source, "../no/such/file.yaml")
    assert "no heading with the anchor" in link_problem(source, "../README.md#no-such-heading")
    assert "not Markdown" in link_problem(source, "../Makefile#L1")
    assert "only links into this repository" in link_problem(source, "https://example.com/")
    assert missing_in_order(["a", "c"], ["a", "b", "c"]) == []
    assert missing_in_order(["c", "a"], ["a", "b", "c"]) == ["a"]
