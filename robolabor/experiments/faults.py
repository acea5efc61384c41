"""Test hook for the fault-injection suite: kill -9 at a named point of a run.

``ROBOLABOR_TEST_KILL_AT=POINT[@N]`` makes the process send itself SIGKILL the N-th
time (default 1) it reaches ``kill_point(POINT)``. It exists so the tests can cut a
run at the moments a real crash is most harmful (inside a checkpoint write, between
a prune's rename and its delete, between the two files of a config extension) and
check that ``--resume`` still reproduces the uninterrupted run. Points:

  step             after every env step (N = the step count reached)
  start            the new run's files are written, not yet renamed into place
  tables           the metrics tables of a checkpoint are written, its files not yet
  checkpoint:agent agent.pt written, replay and state not yet
  checkpoint:seal  all files and the manifest written, the folder not yet renamed
  prune            an old checkpoint renamed for deletion, not yet deleted
  extend           meta.json records a pending extension, config.yaml not yet rewritten
  push             one more object written to (or deleted from) a synced store
                   (synced_storage: N counts the objects of the process's pushes)

Unset (always, outside the tests) it costs one dictionary lookup per call.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "ROBOLABOR_TEST_KILL_AT"
_seen: dict[str, int] = {}


def kill_point(name: str) -> None:
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    point, _, count = spec.partition("@")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
