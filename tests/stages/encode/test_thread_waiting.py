"""OpenMP's idle threads wait passively unless the host chose otherwise: torch's encoder threads
must not spin on the cores the detection threads need."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import os, sys; {before}import docveil; print(os.environ.get('OMP_WAIT_POLICY'))"


def _policy_after_import(before: str = "", **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    result = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], env=environment,
                            capture_output=True, text=True, check=True, timeout=120)
    return result.stdout.strip()


def test_importing_docveil_first_makes_openmp_wait_passively() -> None:
    assert _policy_after_import() == "PASSIVE"


def test_a_policy_the_host_set_is_kept() -> None:
    assert _policy_after_import(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_nothing_is_set_once_torch_has_loaded_openmp() -> None:
    pytest.importorskip("torch")
    assert _policy_after_import(before="import torch; ") == "None"
