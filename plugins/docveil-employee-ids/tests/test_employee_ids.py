"""The plugin's recognizers, and the plugin found by docveil through its entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import docveil_employee_ids as plugin
import pytest

from docveil.config import Settings
from docveil.context import StageContext
from docveil.plugins import ENTRY_POINT_GROUP, make_plugin_manager
from docveil.stages.detect.pii_text import analyze_texts


def _found(recognizer, text: str) -> list[str]:
    return [text[r.start:r.end] for r in recognizer.analyze(text, recognizer.supported_entities)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Employee EMP-123456 joined in May.", ["EMP-123456"]),
    ("badges EMP-000001, EMP-999999", ["EMP-000001", "EMP-999999"]),
    ("(EMP-654321)", ["EMP-654321"]),
    ("EMP-12345 has five digits", []),
    ("EMP-1234567 has seven digits", []),
    ("file emp-123456.pdf is lower case", []),
    ("TEMP-123456 is a temperature log", []),
    ("EMP 123456 has no dash", []),
])
def test_employee_id_recognizer_finds_exactly_the_ids(text: str, expected: list[str]) -> None:
    assert _found(plugin.employee_id_recognizer(), text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Status of BLUE HERON: on track.", ["BLUE HERON"]),
    ("the blue heron budget", ["blue heron"]),
    ("Project Nightjar ships in Q3", ["Project Nightjar"]),
    ("We saw a heron by the river.", []),
    ("BLUE HERONS are birds", []),
])
def test_codename_recognizer_finds_default_code_names(text: str, expected: list[str]) -> None:
    assert _found(plugin.codename_recognizer(plugin.DEFAULT_CODENAMES), text) == expected


def test_code_names_come_from_the_environment_when_set() -> None:
    assert plugin.codenames({"DOCVEIL_PROJECT_CODENAMES": " Falcon, Osprey ,,Falcon"}) == ("Falcon", "Osprey")
    assert plugin.codenames({"DOCVEIL_PROJECT_CODENAMES": " , "}) == plugin.DEFAULT_CODENAMES
    assert plugin.codenames({}) == plugin.DEFAULT_CODENAMES


def test_hook_returns_recognizers_for_the_configured_code_names(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    monkeypatch.setenv("DOCVEIL_PROJECT_CODENAMES", "Osprey")
    context = StageContext(Settings(home=tmp_path, load_entry_points=False), hook=None)
    recognizers = plugin.docveil_text_recognizers(context)
    assert {r.supported_entities[0] for r in recognizers} == {"EMPLOYEE_ID", "PROJECT_CODENAME"}
    codename = next(r for r in recognizers if r.supported_entities == ["PROJECT_CODENAME"])
    assert _found(codename, "Osprey and BLUE HERON") == ["Osprey"]


def test_installed_package_declares_the_docveil_entry_point() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert declared.get("employee_ids") == "docveil_employee_ids"


def test_docveil_finds_the_plugin_through_its_entry_point_and_detects_employee_ids(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCVEIL_PROJECT_CODENAMES", raising=False)
    settings = Settings(home=tmp_path)  # entry points are loaded by default
    pm = make_plugin_manager(settings)
    assert pm.get_plugin("employee_ids") is plugin

    text = "Contact: employee EMP-123456 (Jane Roe) about Project Nightjar."
    findings = analyze_texts([text], StageContext(settings, hook=pm.hook))[0]
    found = {f.entity_type: text[f.start:f.end] for f in findings}
    assert found["EMPLOYEE_ID"] == "EMP-123456"
    assert found["PROJECT_CODENAME"] == "Project Nightjar"
    assert found["PERSON"] == "Jane Roe"

    blocked = make_plugin_manager(Settings(home=tmp_path, blocked_plugins=("employee_ids",)))
    findings = analyze_texts([text], StageContext(settings, hook=blocked.hook))[0]
    assert "EMPLOYEE_ID" not in {f.entity_type for f in findings}
