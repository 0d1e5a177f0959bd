"""Server-sent events: one event per ``event:``/``data:`` pair, the data one line of JSON."""

from __future__ import annotations

import json
from typing import Any


def event(name: str, data: Any) -> bytes:
    """One SSE event; ``data`` as compact JSON on a single line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
