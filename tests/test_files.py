"""docveil's own folders under DOCVEIL_HOME are private whoever creates them first."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from docveil.files import private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_model_cache_made_before_the_database_leaves_the_home_unlistable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old = os.umask(0o077)  # a strict umask must not take the 0711 a root home needs
    try:
        cache = private_folder(home / "models" / "onnx", home)
    finally:
        os.umask(old)
    assert cache.is_dir()
    assert mode(home) == (0o711 if os.geteuid() == 0 else 0o700)
    assert mode(home / "models") == mode(cache) == 0o700
    (home / "models" / "openvino").mkdir(mode=0o755)
    os.chmod(home / "models" / "openvino", 0o755)
    private_folder(home / "models" / "openvino", home)  # an existing folder keeps its mode
    assert mode(home / "models" / "openvino") == 0o755
