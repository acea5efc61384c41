"""How every benchmark reports: a readable key/value table unless ``--json``, then the
result as one JSON line (always last, so scripts and BENCHMARKS.md can parse it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any], as_json: bool) -> None:
    if not as_json:
        width = max(map(len, result), default=0)
        for key, value in result.items():
            print(f"{key:>{width}}: {value}")
    print(json.dumps(result, default=float))


def git_commit() -> str:
    """The short commit the benchmark ran at, named in every result it prints."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
