"""From retrieved hits to what an answerer sees: numbered, redacted passages and chat messages.

Only redacted text goes in: the pseudonymised question and the stored (redacted) chunk text.
File names stay out of prompts, since a file name can itself be personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docveil.types import AnswerRequest, Hit, Passage, RedactedImage, RedactedText

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given. "
    "Cite the passages you use as [1], [2] and so on. "
    "Tokens such as <PERSON_7f3a2c9e1b> stand for personal data that was removed: copy them "
    "exactly as written and never guess what they hide. "
    "If the passages do not answer the question, say that they do not."
)
TRUNCATION_MARK = " …"


def build_request(question: RedactedText, hits: Sequence[Hit], max_chars: int,
                  image: RedactedImage | None = None) -> tuple[AnswerRequest, list[Hit]]:
    """The request for the best hits that fit in ``max_chars`` of passage text, and those hits
    (passage ``n`` is ``hits[n - 1]``). A passage that does not fit whole is cut at a space, so
    a pseudonym token is never cut in half; at least part of the best hit is always kept."""
    passages: list[Passage] = []
    used: list[Hit] = []
    budget = max_chars
    for hit in hits:
        text = hit.text.strip()
        if not text:
            continue
        if len(text) > budget:
            if passages and budget < 200:
                break
            text = _cut(text, max(budget, 1)) + TRUNCATION_MARK
        passages.append(Passage(number=len(passages) + 1, text=RedactedText(text), page=hit.page))
        used.append(hit)
        budget -= len(text)
        if budget <= 0:
            break
    return AnswerRequest(question=question, passages=tuple(passages), image=image), used


def _cut(text: str, limit: int) -> str:
    head = text[:limit]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > 0:  # tokens hold no whitespace, so this never cuts one
        return head[:space]
    opening = head.rfind("<")
    return head[:opening] if opening > head.rfind(">") else head


def user_prompt(request: AnswerRequest) -> str:
    """The passages, then the question, as one user message."""
    if request.passages:
        blocks = [f"[{p.number}] (page {p.page})\n{p.text.text}" for p in request.passages]
        context = "Passages:\n\n" + "\n\n".join(blocks)
    else:
        context = "Passages: none were found."
    return f"{context}\n\nQuestion: {request.question.text}"


def build_messages(request: AnswerRequest) -> list[dict[str, Any]]:
    """Chat messages (system and user, plain text) for a chat-completions style model."""
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_prompt(request)}]
