"""HTML: visible text only, block structure as line breaks, title as metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import loader_context

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError
from docveil.stages.load import html
from docveil.stages.load.source import load_document, source_from_bytes
from docveil.types import Document


@pytest.fixture
def context(tmp_path: Path) -> StageContext:
    return loader_context(Settings(home=tmp_path / "home"))


def _load(context: StageContext, markup: str | bytes, name: str = "page.html") -> Document:
    data = markup.encode() if isinstance(markup, str) else markup
    return load_document(source_from_bytes(name, data, context.settings), context)


PAGE = """<!DOCTYPE html>
<html><head><title>  Staff
   directory </title>
<style>body { font-family: "STYLE-LEAK"; }</style>
<script>var token = "SCRIPT-LEAK";</script>
</head>
<body>
<h1>Team</h1>
<p>Contact   <b>Jane</b> <i>Roe</i> for   details.</p>
<p>Line one<br>Line two<br><br>After a gap</p>
<ul><li>First</li><li>Second <a href="/x">link</a></li></ul>
<table><tr><th>Name</th><th>Phone</th></tr>
<tr><td>Jane Roe</td> <td>555&nbsp;0100</td></tr></table>
<noscript>NOSCRIPT-LEAK</noscript><template><p>TEMPLATE-LEAK</p></template>
<!-- COMMENT-LEAK -->
<pre>  keep   this
    indentation</pre>
<div>Fish &amp; chips</div>
<script type="application/ld+json">{"name": "JSON-LEAK"}</script>
</body></html>
"""


def test_html_keeps_block_structure_as_line_breaks(context: StageContext) -> None:
    document = _load(context, PAGE)
    assert document.media_type == "text/html"
    assert document.pages[0].text == (
        "Team\n\n"
        "Contact Jane Roe for details.\n\n"
        "Line one\nLine two\n\nAfter a gap\n\n"
        "First\nSecond link\n\n"
        "Name\tPhone\nJane Roe\t555 0100\n\n"
        "  keep   this\n    indentation\n\n"
        "Fish & chips"
    )


def test_scripts_styles_and_comments_do_not_leak_into_the_text(context: StageContext) -> None:
    text = _load(context, PAGE).pages[0].text
    for marker in ("SCRIPT-LEAK", "STYLE-LEAK", "NOSCRIPT-LEAK", "TEMPLATE-LEAK", "COMMENT-LEAK", "JSON-LEAK"):
        assert marker not in text


def test_title_goes_to_metadata_not_into_the_text(context: StageContext) -> None:
    document = _load(context, PAGE)
    assert document.metadata == {"title": "Staff directory"}
    assert "directory" not in document.pages[0].text


def test_inline_elements_do_not_split_or_join_words(context: StageContext) -> None:
    assert _load(context, "<p>un<b>bro</b>ken and <em>spaced</em> <code>words</code></p>").pages[0].text == \
        "unbroken and spaced words"


def test_meta_charset_is_honoured(context: StageContext) -> None:
    markup = b'<html><head><meta charset="windows-1252"></head><body><p>J\xf6rg \x93quoted\x94</p></body></html>'
    assert _load(context, markup).pages[0].text == "J\u00f6rg \u201cquoted\u201d"


@pytest.mark.parametrize("label", ["rot13", "unicode_escape", "zlib", "utf-7"])
def test_python_codecs_that_are_no_web_encoding_are_ignored_labels(context: StageContext, label: str) -> None:
    markup = b'<html><head><meta charset="' + label.encode() + b'"></head><body><p>J\xc3\xb6rg \\ud800</p></body></html>'
    assert _load(context, markup).pages[0].text == "J\u00f6rg \\ud800"  # read as UTF-8, the default


def test_http_equiv_latin1_declaration_reads_as_windows_1252(context: StageContext) -> None:
    markup = (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
              b"</head><body><p>caf\xe9 \x96 bar</p></body></html>")
    assert _load(context, markup).pages[0].text == "caf\u00e9 \u2013 bar"


def test_undeclared_legacy_encoding_is_refused_like_text(context: StageContext) -> None:
    with pytest.raises(LoadError) as caught:
        _load(context, b"<html><body><p>J\xf6rg</p></body></html>", name="legacy.html")
    assert caught.value.source == "legacy.html"
    assert caught.value.reason == "not valid UTF-8 text (invalid byte at offset 16)"


def test_html_named_as_text_is_loaded_as_html(context: StageContext) -> None:
    document = _load(context, "<!doctype html><script>SCRIPT-LEAK</script><p>Hello</p>", name="saved.txt")
    assert document.media_type == "text/html"
    assert document.pages[0].text == "Hello"


def test_deeply_nested_markup_loads(context: StageContext) -> None:
    markup = "<p>top</p>" + "<div>" * 3000 + "deep" + "</div>" * 3000
    assert _load(context, markup).pages[0].text == "top\n\ndeep"


@pytest.mark.parametrize("markup", [
    "<p>x</p>" + "<br>" * 201,                           # elements
    "<p " + "a=1 " * 200 + ">x</p>",                     # attributes of one tag
    "<p " + "hidden " * 200 + ">x</p>",                  # attributes without values
    "<p>x</p>" + "<!-- c -->" * 201,                     # comments
])
def test_markup_over_the_limit_is_refused_before_parsing(tmp_path: Path, markup: str) -> None:
    context = loader_context(Settings(home=tmp_path / "home", max_markup=200))
    with pytest.raises(LimitExceededError) as caught:
        _load(context, markup, name="bomb.html")
    assert (caught.value.source, caught.value.reason) == (
        "bomb.html", "HTML has more than 200 tags, comments and attributes, over the markup limit (max_markup)")


def test_markup_at_the_limit_loads(tmp_path: Path) -> None:
    # Eight tags and three attributes, the quoted value with a blank counted twice: twelve.
    markup = '<p class="a b" id=x hidden>one</p><ul><li>two</li><li>three</li></ul>'
    context = loader_context(Settings(home=tmp_path / "home", max_markup=12))
    assert _load(context, markup).pages[0].text == "one\n\ntwo\nthree"
    with pytest.raises(LimitExceededError):
        _load(loader_context(Settings(home=tmp_path / "home", max_markup=11)), markup)


def test_page_with_no_visible_text_has_no_content(context: StageContext) -> None:
    with pytest.raises(LoadError) as caught:
        _load(context, "<html><head><title>Only a title</title></head><body><script>x()</script></body></html>",
              name="empty.html")
    assert (caught.value.source, caught.value.reason) == ("empty.html", "no text content")


def test_html_loader_declines_other_media_types(context: StageContext) -> None:
    assert html.docveil_load_document(source_from_bytes("a.txt", b"<p>x</p>", context.settings), context) is None


def test_empty_table_cells_keep_their_column() -> None:
    from bs4 import BeautifulSoup

    from docveil.stages.load.html import html_text

    page = ("<table><tr><th>Name</th><th>Phone</th><th>DOB</th></tr>\n"
            "  <tr> <td>Jane Roe</td> <td> </td> <td>1985-03-14</td> </tr>\n"
            "  <tr><td></td><td>555-0100</td><td></td></tr></table><p>After</p>")
    text = html_text(BeautifulSoup(page, "html.parser"))
    assert text == "Name\tPhone\tDOB\nJane Roe\t\t1985-03-14\n\t555-0100\t\n\nAfter"
