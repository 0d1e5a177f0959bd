"""docveil's HTTP server (docs/http.md): ``create_app(engine=None, settings=None)``."""

from __future__ import annotations

from docveil.errors import MissingDependencyError

try:
    import fastapi  # noqa: F401
    import python_multipart  # noqa: F401  (uploads)
except ImportError as exc:
    raise MissingDependencyError("the HTTP server", "'docveil[http]'") from exc

from docveil.interfaces.http.app import create_app

__all__ = ["create_app"]
