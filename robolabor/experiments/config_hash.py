"""The hash that seals a run's configuration, torch-free: ``robolabor runs`` checks the
seal of a thousand runs from their ``config.yaml`` without importing the learners."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from robolabor.agents.replay_config import ReplayConfig
from robolabor.schema import to_dict


def hash_config_data(data: dict[str, Any]) -> str:
    """12-hex hash of a resolved configuration as plain data (``to_dict`` of a RunConfig,
    or a run's ``config.yaml`` as read). The ``replay`` section is left out while it is
    the default (uniform): runs made before it existed keep their hash."""
    data = dict(data)
    if data.get("replay") == to_dict(ReplayConfig()):
        del data["replay"]
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
