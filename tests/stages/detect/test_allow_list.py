"""Settings.allow_list: terms that are never redacted, whatever a detector says."""

from __future__ import annotations

import pytest

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import ConfigError
from docveil.plugins import make_plugin_manager
from docveil.stages.combine import detect_texts

TEXT = "Please log it in Jira and check Grafana; Dependabot opened a PR for Ulrich Stavenhagen."


def found(settings: Settings, stash: Stash) -> set[str]:
    context = StageContext(settings, hook=make_plugin_manager(settings).hook, stash=stash)
    return {TEXT[f.start:f.end] for f in detect_texts([TEXT], context)[0]}


def test_allowed_terms_are_not_redacted_and_the_rest_is(settings: Settings, model_stash: Stash) -> None:
    before = found(settings, model_stash)
    assert {"Jira", "Grafana", "Dependabot", "Ulrich Stavenhagen"} <= before  # the model's mistakes
    after = found(settings.with_overrides(allow_list=("jira", " GRAFANA ", "Dependabot")), model_stash)
    assert after == before - {"Jira", "Grafana", "Dependabot"}


def test_a_term_only_counts_for_a_whole_finding(settings: Settings, model_stash: Stash) -> None:
    # "Ulrich" is allowed, but the finding is "Ulrich Stavenhagen": it stays.
    assert "Ulrich Stavenhagen" in found(settings.with_overrides(allow_list=("Ulrich",)), model_stash)


def test_the_allow_list_is_a_setting() -> None:
    assert Settings.load(env={"DOCVEIL_ALLOW_LIST": "Jira, Grafana"}).allow_list == ("Jira", "Grafana")
    with pytest.raises(ConfigError, match="allow_list"):
        Settings(allow_list=("Jira", " "))
