"""Text from outside the code (the URL, the ticker field, the backend) made safe for Streamlit's Markdown.

Every Streamlit message, toast, title and caption renders its body as Markdown with extras: links and images,
`:red[...]` colour directives, `$...$` LaTeX, `:material/...:` icons. A value a link carries must show as the
characters it is, or a crafted link could put a clickable "sign in again" link, a tracking image or styled
text on our page. Two tools: `literal` for a value shown as itself (a code span, inside which Markdown parses
nothing), and `escape` for prose that merely contains outside text (a backslash before every punctuation
character, which CommonMark turns back into the character without giving it meaning).
"""

from __future__ import annotations

import re

# Long enough for any sensible value; a longer one is cut so a hostile link cannot fill the screen.
LITERAL_MAX_CHARS = 80
# CommonMark's backslash-escapable characters: all ASCII punctuation.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# Line breaks and other control characters would end a code span or a message line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def literal(value: object, max_chars: int = LITERAL_MAX_CHARS) -> str:
    """`value` as a Markdown code span that shows exactly its characters (cut to `max_chars`)."""
    text = _CONTROL.sub(" ", str(value))
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    if not text.strip():
        return "(empty)" if not text else "(blank)"
    # A code span ends at the first backtick run as long as its fence, so the fence is one longer than the
    # longest run inside; the padding spaces (stripped by CommonMark) keep a leading or trailing backtick
    # from joining the fence.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def escape(text: object) -> str:
    """Prose with every Markdown-significant character escaped, so it renders as the same plain text."""
    return _PUNCTUATION.sub(r"\\\1", _CONTROL.sub(" ", str(text)))
