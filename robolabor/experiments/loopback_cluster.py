"""A real two-node Ray cluster on this host's loopback, to test sweeps against.

A head node and a worker node, each a separate ``ray start`` (own raylet, own
object store, one CPU each), bound to two loopback addresses (127.0.0.2 and
127.0.0.3: Ray rewrites 127.0.0.1 to the host's public address, so that one is
avoided). Token authentication with a fresh token; every Ray process of the
cluster runs under its own temporary folder, which is how ``stop`` finds exactly
these processes (by id) and no other Ray on the host. ``kill_worker_raylet``
is the fault a lost node makes: the worker node's raylet and its workers killed
with SIGKILL;
``sweep_losing_the_worker`` runs a sweep and makes that fault mid-trial (the test
and the benchmark of a sweep's fault tolerance both use it).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # field 4: the parent's pid
            found.append(int(entry))
    return found


class LoopbackCluster:
    """``with LoopbackCluster(pythonpath) as c: ... c.address ... c.env``."""

    def __init__(self, pythonpath: str | Path, cpus_per_node: int = 1,
                 node_env: dict[str, dict[str, str]] | None = None) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="rl-ray-"))  # short: socket paths < 108
        self.port = _free_port(HEAD_IP)
        self.address = f"{HEAD_IP}:{self.port}"
        self.cpus = cpus_per_node
        self.env = dict(os.environ, PYTHONPATH=str(pythonpath), OMP_NUM_THREADS="1",
                        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
                        RAY_USAGE_STATS_ENABLED="0")
        self.env.pop("RAY_ADDRESS", None)
        self.node_env = node_env or {}  # per node IP: extra variables its workers see

    def _ray(self, *args: str, ip: str | None = None) -> None:
        ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
        env = {**self.env, **self.node_env.get(ip or "", {})}
        proc = subprocess.run([ray, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")

    def start(self) -> LoopbackCluster:
        common = ["--num-cpus", str(self.cpus), "--disable-usage-stats",
                  "--object-store-memory", str(100 * 1024 * 1024)]
        self._ray("start", "--head", "--node-ip-address", HEAD_IP, "--port", str(self.port),
                  "--include-dashboard", "false", "--temp-dir", str(self.temp), *common,
                  ip=HEAD_IP)
        self._ray("start", "--address", self.address, "--node-ip-address", WORKER_IP,
                  "--resources", '{"worker_node": 1}', *common, ip=WORKER_IP)
        return self

    def pids(self) -> list[int]:
        """Every process of this cluster (its command line names the cluster's folder)."""
        mine = str(self.temp)
        return [int(p) for p in os.listdir("/proc") if p.isdigit()
                and any(mine in arg for arg in _cmdline(int(p)))]

    def raylet(self, ip: str) -> tuple[int, str]:
        """(pid, node id) of the raylet bound to ``ip``."""
        for pid in self.pids():
            args = _cmdline(pid)
            if args and args[0].endswith("raylet") and f"--node_ip_address={ip}" in args:
                node = next(a.split("=", 1)[1] for a in args if a.startswith("--node_id="))
                return pid, node
        raise RuntimeError(f"no raylet on {ip}")

    def kill_worker_raylet(self) -> int:
        """SIGKILL the worker node's raylet and the worker processes it started: the
        node is lost at once. (Killing the raylet alone lets a running task go on for
        a while and, on a loaded machine, finish and report before its worker notices:
        then nothing is lost and there is nothing to retry.)"""
        pid, _ = self.raylet(WORKER_IP)
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        """SIGTERM then SIGKILL to this cluster's processes only (workers included)."""
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------- the drill

def sweep_command(spec: Path, storage: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "robolabor.cli", "sweep", str(spec), "--storage",
            str(storage), "--json", *extra]


def trial_on_node_with_checkpoint(storage: Path, node: str) -> str | None:
    """A trial whose latest attempt runs on ``node`` and has sealed a step past 0."""
    from robolabor.experiments.storage import ATTEMPTS

    for folder in storage.glob(f"{ATTEMPTS}/*"):
        attempts = sorted(folder.glob("[0-9]*.json"))
        try:
            record = json.loads(attempts[-1].read_text()) if attempts else None
        except ValueError:
            continue  # being written
        if record and record["node"] == node and any(
                not p.name.endswith("000000000")
                for p in (storage / folder.name / "checkpoints").glob("step-*")):
            return folder.name
    return None


def sweep_losing_the_worker(cluster: LoopbackCluster, spec: Path, storage: Path,
                            timeout: float = 300.0,
                            uri: str | None = None) -> tuple[dict, str, float]:
    """Run ``spec`` on the cluster and kill the worker node's raylet once a trial on it
    has sealed a checkpoint past step 0. Returns (the sweep's JSON summary, the trial
    that was running there, seconds into the sweep when the node was killed).
    ``uri``: the sweep's --storage when it names ``storage`` otherwise (sync+file://)."""
    _, worker_node = cluster.raylet(WORKER_IP)
    t0 = time.monotonic()
    proc = subprocess.Popen(sweep_command(spec, uri or storage, "--backend", "ray",
                                          "--address", cluster.address),
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        killed = None
        while killed is None and proc.poll() is None and time.monotonic() - t0 < timeout:
            killed = trial_on_node_with_checkpoint(storage, worker_node)
            if killed is None:
                time.sleep(0.1)
        if killed is None:
            raise RuntimeError("no trial reached a checkpoint on the worker node")
        cluster.kill_worker_raylet()
        killed_at = time.monotonic() - t0
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out), killed, killed_at


TIMING = {"wall_seconds"}  # the only columns two runs of one config may differ in


def _comparable(value):
    """NaN as a marker (NaN != NaN would make equal tables differ), lists element-wise."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def comparable_tables(storage: Path) -> dict[str, dict[str, list]]:
    """Every run's episodes and evals rows under ``storage``, timing columns aside."""
    from robolabor.experiments.runs import read_table

    out = {}
    for run in sorted(p for p in storage.iterdir() if (p / "meta.json").is_file()):
        out[run.name] = {name: [{k: _comparable(v) for k, v in row.items() if k not in TIMING}
                                for row in read_table(run / f"{name}.parquet")]
                         for name in ("episodes", "evals")}
    return out


def first_difference(a: dict, b: dict) -> dict | None:
    """Where two ``comparable_tables`` first differ: run, table, row, columns."""
    for run in sorted(set(a) | set(b)):
        if run not in a or run not in b:
            return {"run": run, "missing_in": "first" if run not in a else "second"}
        for table in ("episodes", "evals"):
            ra, rb = a[run][table], b[run][table]
            if len(ra) != len(rb):
                return {"run": run, "table": table, "rows": [len(ra), len(rb)]}
            for i, (x, y) in enumerate(zip(ra, rb, strict=True)):
                if x != y:
                    cols = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                    return {"run": run, "table": table, "row": i, "columns": cols[:8]}
    return None
