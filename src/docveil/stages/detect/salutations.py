"""Names in the greetings, thanks and sign-offs of letters, emails and chats.

"Hi Marta,", "Dear Ms Okafor,", "Thanks, Ulrich!" and a signature under "Best regards," name a
person, but a name alone gives spaCy's small model little to go on: it calls "Marta" a place
and "Ulrich" an organisation, or nothing. The words around such a name are evidence enough:
``addressed_names`` finds the name words of those places, and ``GivenNames.is_person`` decides
whether they can be a person's ("Hi Team,", "Dear Hiring Manager," and "Best regards,\\nThe
Finance Team" are not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import regex as re  # \p{Lu}: a name word opens with a capital of any script

from docveil.stages.detect.given_names import NAME_PARTICLES, TITLES

Span = tuple[int, int]

_GREETINGS = (r"dear|hi|hii|hello|hey|hiya|greetings|morning|good\s+(?:morning|afternoon|evening)"
              r"|hallo|hola|bonjour|ciao|hej|hei|moin|liebe|lieber")
_CLOSINGS = (
    r"(?:best|kind|warm|warmest|many|with)?\s*regards|best(?:\s+wishes)?|all\s+the\s+best|cheers|thanks|thank\s+you"
    r"|many\s+thanks|thanks\s+again|thx|sincerely|yours(?:\s+(?:sincerely|faithfully|truly))?|respectfully"
    r"|warmly|take\s+care|talk\s+soon|speak\s+soon|mit\s+freundlichen\s+gr(?:ü|ue)(?:ß|ss)en|viele\s+gr(?:ü|ue)(?:ß|ss)e"
    r"|cordialement|bien\s+(?:à\s+vous|cordialement)|saludos(?:\s+cordiales)?|un\s+(?:cordial\s+)?saludo(?:\s+cordial)?|un\s+abrazo|un\s+saluto|cordiali\s+saluti"
    r"|met\s+vriendelijke\s+groet(?:en)?|groeten|groetjes|med\s+vänliga\s+hälsningar|hälsningar|venlig\s+hilsen|hilsen"
    r"|abraços|abrazos|atentamente|un\s+abbraccio|a\s+presto|pozdrawiam|pozdrowienia|s\s+pozdravem|terveisin"
    r"|ystävällisin\s+terveisin|mvh|grüße|gruß|liebe\s+grüße|bises|bisous|amitiés|à\s+bientôt"
)
# Abbreviated closings, read only on a line of their own ("BR,\nHenrik").
_LINE_CLOSINGS = r"br|kr|rgds|regs|tks|thx|lg|vg|mfg"
_TITLES = "|".join(sorted((title.capitalize() for title in TITLES), key=len, reverse=True))
_PARTICLES = "|".join(sorted(NAME_PARTICLES))
# A written name word: a capital, letters, parts joined by an apostrophe or hyphen ("O'Neill",
# "Okonkwo-Bell", "Zoë", "Łukasz"), or an initial ("J.").
_WORD = r"(?:\p{Lu}\.|\p{Lu}\p{L}*(?:['\u2019-]\p{L}+)*)"
_GROUP = re.compile(
    rf"(?:(?P<title>{_TITLES})\.?[ \t]+)?"
    rf"(?P<name>{_WORD}(?:[ \t]+(?:(?:{_PARTICLES})[ \t]+)*{_WORD}){{0,3}})")
# What may follow a name in a greeting or thanks: punctuation, a dash, the end of the line.
_AFTER = re.compile(r"[ \t]*(?:[,!:;.?&/|()\u2013\u2014-]|and\b|$)")
_WHOLE_LINE = re.compile(r"[ \t]*$")
_LIST_SEPARATOR = re.compile(r"[ \t]*(?:,|&|and\b)[ \t]*")
# A greeting at the start of a line (after quote markers); names follow it.
_GREETING = re.compile(rf"^[ \t>]*(?i:{_GREETINGS})\b[ \t]*,?[ \t]*", re.MULTILINE)
# A closing and a name on the same line, the closing opening the line or a sentence ("Thanks,
# Ulrich!", "Great work. Regards, Marta"; not "the best Kubernetes"); thanks anywhere ("ok
# thanks Ulrich, will do").
_THANKS = r"thanks|thank\s+you|many\s+thanks|thx|ty|cheers"
_CLOSING_THEN_NAME = re.compile(
    rf"(?:(?:^[ \t>]*|(?<=[.!?][ \t]))(?i:{_CLOSINGS})|(?<![\w-])(?i:{_THANKS}))\b[ \t]*,?[ \t]*(?=\p{{Lu}})",
    re.MULTILINE)
# A closing ending its line, a few more words allowed ("Thanks for your help,"); the signature
# starts on one of the next lines ("-- Marta").
_CLOSING_LINE = re.compile(
    rf"^[ \t>]*(?i:{_CLOSINGS}|{_LINE_CLOSINGS})\b(?:[ \t]+\p{{Ll}}+){{0,4}}[ \t]*[,!.]?[ \t]*\r?\n(?:[ \t>]*\r?\n){{0,2}}[ \t>]*(?:[-\u2013\u2014~]+[ \t]*)?",
    re.MULTILINE)

# A signature after a dash, on a line of its own: "-- Matteo", "— Tomás", or on the line after
# the "-- " that separates a signature in email.
_DASH_SIGNATURE = re.compile(r"^[ \t>]*(?:--|\u2014|\u2013)[ \t]*(?:\r?\n[ \t>]*)?(?=\p{Lu})", re.MULTILINE)

IsPerson = Callable[[Sequence[str], bool], bool]


def addressed_names(text: str, is_person: IsPerson) -> list[Span]:
    """Spans of the names ``text`` greets, thanks or signs with, without titles, sorted.

    ``is_person(words, titled)`` has the last say on each name; ``titled`` is True when a title
    ("Ms", "Dr", "Herr") comes before it.
    """
    spans: set[Span] = set()
    for greeting in _GREETING.finditer(text):
        spans.update(_names_in_list(text, greeting.end(), is_person))
    for closing in _CLOSING_THEN_NAME.finditer(text):
        spans.update(_names_in_list(text, closing.end(), is_person, first_only=True))
    for closing in _CLOSING_LINE.finditer(text):
        spans.update(_signature(text, closing.end(), is_person))
    for dash in _DASH_SIGNATURE.finditer(text):
        spans.update(_signature(text, dash.end(), is_person, whole_line=True))
    return sorted(spans)


def _names_in_list(text: str, pos: int, is_person: IsPerson, first_only: bool = False) -> Iterator[Span]:
    """Names from ``pos`` to the end of the line: "Marta,", "Marta and Ulrich!", "Ms Okafor:"."""
    line_end = _line_end(text, pos)
    while (group := _GROUP.match(text, pos, line_end)) is not None:
        if _AFTER.match(text, group.end(), line_end) is None:
            return  # "Hi Marta Anything else": not a name standing alone
        if is_person(group.group("name").split(), group.group("title") is not None):
            yield group.span("name")
        separator = _LIST_SEPARATOR.match(text, group.end(), line_end)
        if first_only or separator is None:
            return
        pos = separator.end()


def _signature(text: str, pos: int, is_person: IsPerson, whole_line: bool = False) -> Iterator[Span]:
    """The name on the first line of a signature, if the line opens with one (``whole_line``:
    if the line holds nothing else)."""
    line_end = _line_end(text, pos)
    group = _GROUP.match(text, pos, line_end)
    after = _WHOLE_LINE if whole_line else _AFTER
    if group is None or after.match(text, group.end(), line_end) is None:
        return
    if is_person(group.group("name").split(), group.group("title") is not None):
        yield group.span("name")


def _line_end(text: str, pos: int) -> int:
    """Where the line holding ``pos`` ends, before its line break ("\n" or "\r\n")."""
    end = text.find("\n", pos)
    end = len(text) if end == -1 else end
    return end - 1 if end > pos and text[end - 1] == "\r" else end
