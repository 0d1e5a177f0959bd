"""Files docveil writes for its callers (redacted outputs, manifests, audit exports) appear whole
or not at all; its own folders under DOCVEIL_HOME are private."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def writing_whole(destination: str | os.PathLike[str], mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """A temporary file (mode 0600) in ``destination``'s folder that replaces ``destination``
    when the block completes: a failure leaves an earlier file as it was and no partial one."""
    destination = Path(destination)
    try:
        handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(destination)) from exc
    try:
        with os.fdopen(handle, mode, **open_args) as out:
            yield out
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_whole(destination: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``destination`` through :func:`writing_whole`."""
    with writing_whole(destination) as out:
        out.write(data)


def private_folder(path: Path, home: Path) -> Path:
    """``path`` (inside ``home``, DOCVEIL_HOME) created with its parents, none readable by
    others: the home 0711 as root (the embedded server's user passes through it), else 0700;
    the folders inside it 0700. Folders that exist keep their mode."""
    if not home.exists():
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o711 if os.geteuid() == 0 else 0o700)  # whatever the umask
    folder = home
    for part in path.relative_to(home).parts:
        folder = folder / part
        if not folder.exists():
            folder.mkdir(exist_ok=True)
            os.chmod(folder, 0o700)
    return path
