"""Runs the installed `retrain` command in a fresh process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RETRAIN = Path(sys.executable).with_name("retrain")
CLASSES = "0,1,2,3,4,5,6,7,8,9"


def run(home: Path, *args: str, settings: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`retrain --home HOME ARGS...`, with no RETRAIN_* variable but the `settings` given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")} | (settings or {})
    return subprocess.run([str(RETRAIN), "--home", str(home), *args], capture_output=True, text=True, env=env,
                          cwd=home.parent)
