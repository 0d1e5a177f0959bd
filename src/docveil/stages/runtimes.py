"""Inference runtimes imported and silenced before use: left as installed, two of them report
usage to their vendors, which a privacy tool must not do.

- ONNX Runtime (1.2x and later) records events about the process (its path, the platform, the
  sessions made) in ``~/.cache/Microsoft/DeveloperTools`` for upload to Microsoft:
  ``disable_telemetry_events`` turns that off for the process.
- OpenVINO's model converter, imported with ``openvino`` itself, reports the import and each
  conversion to Google Analytics through ``openvino_telemetry`` unless its user opted out, from
  a process it forks per event (which also hangs in a threaded process such as a server). Made
  unimportable before ``openvino`` is first imported, the converter takes the stub OpenVINO
  uses when that package is not installed; modules imported earlier are pointed at it too.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def import_runtime(name: str) -> ModuleType:
    """``onnxruntime`` or ``openvino``, imported with its telemetry off (ImportError if absent)."""
    if name == "openvino":
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    return quiet(importlib.import_module(name))


def quiet(runtime: ModuleType) -> ModuleType:
    """``runtime`` (an imported ``onnxruntime`` or ``openvino``), its telemetry off."""
    if runtime.__name__ == "onnxruntime":
        disable = getattr(runtime, "disable_telemetry_events", None)
        if disable is not None:
            disable()
    elif runtime.__name__ == "openvino":
        try:
            from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils
        except ImportError:  # no converter installed: nothing reports
            return runtime
        convert_impl.tm = telemetry_stub  # type: ignore[attr-defined]
        telemetry_utils.tm = telemetry_stub  # type: ignore[attr-defined]
    return runtime
