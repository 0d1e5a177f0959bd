"""Inference runtimes silenced before use: left as installed, two of them report usage to their
vendors, which a privacy tool must not do.

- ONNX Runtime (1.2x and later) records events about the process (its path, the platform, the
  sessions made) in ``~/.cache/Microsoft/DeveloperTools`` and uploads them to Microsoft:
  ``disable_telemetry_events`` turns that off for the process.
- OpenVINO's model converter reports each conversion to Google Analytics through
  ``openvino_telemetry`` unless its user opted out, from a process it forks per event (which
  also hangs in a threaded process such as a server). Its modules are pointed at the stub
  OpenVINO itself uses when that package is not installed.
"""

from __future__ import annotations

from types import ModuleType


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
