"""The local sweep backend: results in order, and no orphans when its parent is killed."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

from robolabor.experiments.sweep import get_backend


def test_results_come_back_in_job_order():
    jobs = [{"x": 3.0}, {"x": -1.5}, {"x": 0.25}]
    assert get_backend("local", 2).map(abs_of, jobs) == [3.0, 1.5, 0.25]


def abs_of(x: float) -> float:
    return abs(x)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0; read its state where /proc exists
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """kill -9 of `compare`/`train_seeds` must not leave workers training on."""
    (tmp_path / "napmod.py").write_text(textwrap.dedent("""
        import os, time
        def nap(seconds):
            os.write(1, f"{os.getpid()}\\n".encode())  # one write: two workers never interleave
            time.sleep(seconds)
    """))
    script = ("import napmod\nfrom robolabor.experiments.sweep import LocalProcessBackend\n"
              "LocalProcessBackend(2).map(napmod.nap, [{'seconds': 120}] * 2)\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env,
                              text=True)
    pids, deadline = [], time.monotonic() + 60
    while len(pids) < 2 and time.monotonic() < deadline:
        ready, _, _ = select.select([parent.stdout], [], [], 1.0)
        if ready:
            pids.append(int(parent.stdout.readline()))
    assert len(pids) == 2, "workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = [p for p in pids if _alive(p)]
    for p in leftover:
        os.kill(p, signal.SIGKILL)
    assert not leftover, f"orphaned workers still running: {leftover}"
