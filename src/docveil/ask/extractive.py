"""The extractive answerer (``answerer = "extractive"``, the default): a default plugin.

No model: it quotes the sentences of the retrieved passages that share the most words with the
question, each with its citation mark, under a line that says the answer is extractive. Its
output can only repeat redacted passage text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from docveil.context import StageContext
from docveil.errors import ConfigError
from docveil.hookspecs import hookimpl
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import AnswerRequest, Generation, Passage

NAME = "extractive"
MODEL = "extractive"
HEADER = "Extractive answer (quoted from the passages; no language model wrote it):\n"
NOTHING_FOUND = "Extractive answer: no passage you may read matches the question.\n"
MAX_QUOTES = 3
MAX_QUOTE_CHARS = 400

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)", re.MULTILINE)
_TERM = re.compile(rf"{TOKEN_PATTERN.pattern}|\w+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its of on or "
    "our that the their them there these they this to was were what when where which who whom "
    "whose why will with would you your about can could should may might me my we us".split())


def terms(text: str) -> set[str]:
    """The words of ``text`` that carry meaning: no stopwords, tokens kept whole."""
    return {t.casefold() for t in (m.group(0) for m in _TERM.finditer(text))
            if t.casefold() not in _STOPWORDS and (len(t) > 1 or t.isdigit())}


def best_quotes(request: AnswerRequest, limit: int = MAX_QUOTES) -> list[tuple[str, Passage]]:
    """The sentences sharing the most question terms, best first (ties: earlier passages)."""
    wanted = terms(request.question.text)
    scored: list[tuple[int, int, int, str, Passage]] = []
    for passage in request.passages:
        for order, match in enumerate(_SENTENCE.finditer(passage.text.text)):
            sentence = " ".join(match.group(0).split())
            overlap = len(wanted & terms(sentence))
            if sentence and overlap:
                scored.append((-overlap, passage.number, order, sentence, passage))
    scored.sort(key=lambda item: item[:3])
    return [(sentence, passage) for *_, sentence, passage in scored[:limit]]


def extract(request: AnswerRequest) -> Iterator[str]:
    quotes = best_quotes(request)
    if not quotes and request.passages:  # no shared word: the best passage's opening is still relevant
        first = request.passages[0]
        opening = next((" ".join(m.group(0).split()) for m in _SENTENCE.finditer(first.text.text)
                        if m.group(0).strip()), "")
        quotes = [(opening, first)] if opening else []
    if not quotes:
        yield NOTHING_FOUND
        return
    yield HEADER
    for sentence, passage in quotes:
        quote = sentence if len(sentence) <= MAX_QUOTE_CHARS else sentence[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
        yield f"- \"{quote}\" [{passage.number}]\n"


@hookimpl(trylast=True)
def docveil_answer(request: AnswerRequest, context: StageContext) -> Generation | None:
    if context.settings.answerer != NAME:
        return None
    if request.image is not None:
        raise ConfigError("the extractive answerer cannot read images: ask without an image, or "
                          "set answerer to a vision-capable model (docs/ask.md)")
    return Generation(model=MODEL, pieces=extract(request), extractive=True)
