"""The Python examples of docs/redaction.md run as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from presidio_analyzer import PatternRecognizer

from docveil.context import StageContext

DOC = Path(__file__).resolve().parents[3] / "docs" / "redaction.md"


def test_every_python_example_of_the_redaction_guide_runs(detect_context: StageContext) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 4
    namespace: dict[str, object] = {"context": detect_context}
    for block in blocks:
        exec(compile(textwrap.dedent(block), str(DOC), "exec"), namespace)  # our own documentation
    recognizers = namespace["docveil_text_recognizers"](detect_context)  # type: ignore[operator]
    assert [type(r) for r in recognizers] == [PatternRecognizer]
    assert [r.supported_entities for r in recognizers] == [["EMPLOYEE_ID"]]
    [card] = namespace["PortugueseCard"]().docveil_text_recognizers(detect_context)  # type: ignore[operator]
    text = "Cartão de Cidadão 00000000 0 ZZ4"
    assert [(text[r.start:r.end], r.entity_type) for r in card.analyze(text, ["NATIONAL_ID"])] == [
        ("00000000 0 ZZ4", "NATIONAL_ID")]
