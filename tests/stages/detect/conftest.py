"""The analyzer context for detection tests, built once per session."""

from __future__ import annotations

import pytest

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.plugins import make_plugin_manager


@pytest.fixture(scope="session")
def detect_context(settings: Settings, model_stash: Stash) -> StageContext:
    """The default plugins (no entry points), sharing the session's loaded models."""
    return StageContext(settings, hook=make_plugin_manager(settings).hook, stash=model_stash)
