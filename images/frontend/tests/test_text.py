"""Outside text stays text: checked with a CommonMark parser over arbitrary strings and known attacks.

markdown-it-py follows CommonMark, the core Streamlit's renderer (remark) builds on; Streamlit's own extras
(colour directives, LaTeX, icons) are tried in a real browser by tests/e2e/test_injection.py.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from stockui.text import LITERAL_MAX_CHARS, escape, literal

MARKDOWN = MarkdownIt("commonmark")
ATTACKS = [
    "[Session expired - sign in again](https://evil.example/login)",
    "![x](http://127.0.0.1:8765/track.png)",
    ":red[**SECURITY ALERT**]",
    '<img src="http://127.0.0.1:8765/track.png">',
    "$\\frac{1}{2}$",
    "`code` and ``more``",
    "`",
    " leading and trailing ` ",
    "line\nbreak\r\n# heading",
]
# What a value may contain after the control characters are replaced (the code span cannot hold them).
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=LITERAL_MAX_CHARS)


def rendered(markdown: str) -> str:
    return MARKDOWN.renderInline(markdown)


def code_text(markdown: str) -> str:
    """The text of the one code span `markdown` renders to; fails if it renders anything else."""
    out = rendered(markdown)
    assert out.startswith("<code>"), out
    assert out.endswith("</code>"), out
    inner = out.removeprefix("<code>").removesuffix("</code>")
    assert "<" not in inner, out
    return html.unescape(inner)


@given(printable.filter(str.strip))
def test_a_literal_is_one_code_span_of_exactly_the_value(value):
    assert code_text(literal(value)) == value


@pytest.mark.parametrize("value", ATTACKS)
def test_attacks_are_shown_as_code(value):
    shown = value.replace("\r\n", " ").replace("\n", " ")
    assert code_text(literal(value)) == shown


def test_a_long_value_is_cut_and_an_empty_one_named():
    assert code_text(literal("A" * 500)) == "A" * (LITERAL_MAX_CHARS - 1) + "…"
    assert literal("") == "(empty)"
    assert literal("   ") == "(blank)"


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs"))))
def test_escaped_prose_renders_as_the_same_plain_text(text):
    out = rendered(escape(text))
    assert "<" not in out.replace("&lt;", ""), out
    assert html.unescape(out) == text


@pytest.mark.parametrize("value", ATTACKS)
def test_escaped_attacks_render_no_markup(value):
    out = rendered(escape(value))
    assert html.unescape(out) == value.replace("\r\n", " ").replace("\n", " ")
    assert not re.search(r"<(a|img|strong|em|code)\b", out), out
