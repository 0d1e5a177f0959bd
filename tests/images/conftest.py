"""Fixtures for the image tests: one context with the default plugins, sharing the session's
loaded models."""

from __future__ import annotations

import pytest

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.plugins import make_plugin_manager


@pytest.fixture(scope="session")
def image_context(settings: Settings, model_stash: Stash) -> StageContext:
    """The default plugins, as an engine registers them, sharing the session's models."""
    return StageContext(settings, make_plugin_manager(settings).hook, stash=model_stash)
