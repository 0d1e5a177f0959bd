"""``docveil ask`` from the command line: streamed text with sources, or JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from docveil.interfaces.cli import app

from .conftest import RAW_VALUES, ingest


@pytest.mark.slow
def test_ask_streams_to_the_terminal_and_answers_in_json(make_engine, documents, settings, db) -> None:
    ids = ingest(make_engine(), documents)
    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database,
           "DOCVEIL_LOAD_ENTRY_POINTS": "false", "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice"}
    runner = CliRunner()
    shown = runner.invoke(app, ["ask", "How much rent does Jane Roe pay?"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("Extractive answer") and "1200 euros" in shown.stdout
    assert "[1] " in shown.stdout and "jane_roe_lease.txt, page 1" in shown.stdout
    assert not any(value in shown.stdout for value in RAW_VALUES)

    as_json = runner.invoke(app, ["ask", "How much rent does Jane Roe pay?", "--json", "-k", "3"], env=env,
                            catch_exceptions=False)
    answer = json.loads(as_json.stdout)
    assert answer["extractive"] is True and [c["document_id"] for c in answer["citations"]] == [ids["lease"]]
    assert "<PERSON_" in answer["redacted_question"]

    refused = runner.invoke(app, ["ask", "rent?", "--answerer", "nonexistent"], env=env)
    assert refused.exit_code == 1 and "nonexistent" in refused.stderr and "Traceback" not in refused.stderr
