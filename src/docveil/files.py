"""Files docveil writes for its callers (redacted outputs, manifests) appear whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_whole(destination: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` through a temporary file (mode 0600) in the same folder, renamed into place
    once complete: a failure leaves an earlier file as it was and no partial one."""
    destination = Path(destination)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
