"""Every run under a folder as one table, queryable with SQL (DuckDB).

Three views over the run directories found below a root (a run directory is a
folder holding ``meta.json`` and ``config.yaml``; hidden staging folders and a
run's own subfolders are never searched):

  runs         one row per run: run_dir (relative to the root), config_hash, seed,
               status, sealed (config.yaml still hashes to meta.json's hash),
               env_steps, wall_seconds, the final and best evaluation's
               pct_of_frontier (with the final one's CI and SLA verdict), and every
               resolved config key as a column named by its dotted path
               ("sac.actor_lr": quote it in SQL)
  evaluations  every row of every evals.parquet, with run_dir
  episodes     every row of every episodes.parquet, with run_dir

The Parquet files are read by DuckDB where they lie (only the columns a query
names). Each run's meta.json and config.yaml are read once: the config from
meta.json's JSON copy while config.yaml still has the bytes it was sealed with, else
parsed from the YAML (libyaml when present). The runs rows are cached in an index
that a run's changed files invalidate.

A storage URI (``s3://...``, ``sync+file://...``) is listed from a local mirror of
its runs' record files (``table_for``; ``synced_storage.mirror_records``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from robolabor.errors import UserError
from robolabor.experiments.config_hash import hash_config_data

SKIP = {"checkpoints", "tb"}
RUN_COLUMNS = ("run_dir", "config_hash", "seed", "status", "sealed", "env_steps",
               "final_step", "final_pct_of_frontier", "final_pct_of_frontier_lo",
               "final_pct_of_frontier_hi", "final_sla_verdict", "best_pct_of_frontier",
               "best_step", "wall_seconds")
SHOWN = ("run_dir", "status", "seed", "config_hash", "env_steps", "final_pct_of_frontier",
         "best_pct_of_frontier", "final_sla_verdict", "wall_seconds")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise UserError("`robolabor runs` needs DuckDB, in the optional extra: "
                        "pip install -e '.[sweep]'") from None
    return duckdb


def find_runs(root: Path) -> list[Path]:
    """Run directories at or below ``root``, sorted; never inside a run or a hidden folder."""
    found: list[Path] = []

    def walk(folder: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        names = {e.name for e in entries}
        if "meta.json" in names and "config.yaml" in names:
            found.append(Path(folder))
            return
        for entry in entries:
            if (entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
                    and entry.name not in SKIP):
                walk(entry.path)

    walk(str(root))
    return sorted(found)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config sections as dotted keys; lists kept whole (as JSON text)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        elif isinstance(value, dict | list):
            out[dotted] = json.dumps(value)
        else:
            out[dotted] = value
    return out


def _run_row(root: Path, path: Path) -> dict[str, Any]:
    rel = "." if path == root else path.relative_to(root).as_posix()
    try:
        meta = json.loads((path / "meta.json").read_text())
        config = _sealed_copy(meta, (path / "config.yaml").read_bytes())
        digest = None if config is None else meta.get("config_hash")
        if config is None:
            config = yaml.load((path / "config.yaml").read_text(), Loader=_Loader)
            digest = hash_config_data(config) if isinstance(config, dict) else None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return {"run_dir": rel, "status": f"unreadable: {exc}", "sealed": False}
    row = {"run_dir": rel, "config_hash": meta.get("config_hash"), "seed": meta.get("seed"),
           "status": meta.get("status"), "sealed": digest == meta.get("config_hash"),
           "env_steps": meta.get("env_steps"), "meta_wall_seconds": meta.get("wall_seconds")}
    row.update(flatten(config if isinstance(config, dict) else {}))
    return row


def _sealed_copy(meta: dict[str, Any], config_yaml: bytes) -> dict[str, Any] | None:
    """meta.json's JSON copy of the config, when config.yaml's bytes are still those
    it was written with (their sha256) and the copy hashes to the sealed hash; else
    None, and the YAML itself is parsed (runs from before the copy, an edited file).
    Parsing JSON instead of YAML is what keeps a cold listing of 1,000 runs fast."""
    copy = meta.get("config")
    if (not isinstance(copy, dict)
            or meta.get("config_sha256") != hashlib.sha256(config_yaml).hexdigest()):
        return None
    return copy if hash_config_data(copy) == meta.get("config_hash") else None


def _sql_text(value: str | Path) -> str:
    """A string literal for SQL."""
    return "'" + str(value).replace("'", "''") + "'"


def _has_columns(path: Path) -> bool:
    """An empty table (a run killed before its first row) is written with no columns,
    in a file of a few hundred bytes: a larger file is not read."""
    try:
        if os.stat(path).st_size > 4096:
            return True
        return pq.read_metadata(path).num_columns > 0
    except (OSError, pa.ArrowInvalid):
        return False


def _signature(path: Path) -> str:
    """What a cached row depends on: size and mtime of the run's four record files."""
    parts = []
    for name in ("meta.json", "config.yaml", "evals.parquet", "episodes.parquet"):
        try:
            st = os.stat(path / name)
            parts.append(f"{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append("-")
    return "|".join(parts)


SUMMARY_SQL = """
    WITH ranked AS (
      SELECT run_dir, step, pct_of_frontier, pct_of_frontier_lo, pct_of_frontier_hi,
             sla_verdict, wall_seconds,
             row_number() OVER (PARTITION BY run_dir ORDER BY step DESC) AS last,
             row_number() OVER (PARTITION BY run_dir ORDER BY pct_of_frontier DESC, step)
               AS best
      FROM {source})
    SELECT f.run_dir, f.step AS final_step, f.pct_of_frontier AS final_pct_of_frontier,
           f.pct_of_frontier_lo AS final_pct_of_frontier_lo,
           f.pct_of_frontier_hi AS final_pct_of_frontier_hi,
           f.sla_verdict AS final_sla_verdict, f.wall_seconds AS eval_wall_seconds,
           b.pct_of_frontier AS best_pct_of_frontier, b.step AS best_step
    FROM ranked f JOIN ranked b ON b.run_dir = f.run_dir AND b.best = 1
    WHERE f.last = 1
"""


class RunTable:
    """A DuckDB connection holding the three views for the runs under ``root``.

    A run's row (meta, config, final and best evaluation) is kept in a hidden index
    beside the runs (``.robolabor-runs-index.parquet``, skipped where the folder is
    read-only) and recomputed whenever the size or mtime of one of its record files
    changed, so a listing reads only the runs that changed since the last one."""

    INDEX = ".robolabor-runs-index.parquet"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{self.root}: no such folder (runs lists the run directories "
                            "below a folder, e.g. runs/)")
        duckdb = _duckdb()
        self.con = duckdb.connect()
        paths = find_runs(self.root)
        cached = self._read_index()
        rows, stale = [], []
        for path in paths:
            rel = "." if path == self.root else path.relative_to(self.root).as_posix()
            sig = _signature(path)
            row = cached.get(rel)
            if row is None or row.get("_signature") != sig:
                row = _run_row(self.root, path) | {
                    "_signature": sig,
                    "_evals": _has_columns(path / "evals.parquet"),
                    "_episodes": _has_columns(path / "episodes.parquet")}
                stale.append(row)
            rows.append(row)
        self._pending: dict[str, list[tuple[str, Path]]] = {}
        self._summarise(stale)
        keys: dict[str, None] = dict.fromkeys(RUN_COLUMNS)
        for row in rows:
            keys.update(dict.fromkeys(row))
        self.config_keys = [k for k in keys if "." in k]
        index = self.root / self.INDEX
        fresh = bool(stale) or len(cached) != len(rows) or not index.is_file()
        if rows and not fresh:  # the view reads the index where it lies
            source = f"read_parquet({_sql_text(index)})"
        else:
            self._load_rows(rows, list(keys))
            source = "_runs"
            if rows and not (self.root / "meta.json").is_file():  # (a run's folder: none)
                self._write_index()
        shown = [*RUN_COLUMNS, *self.config_keys]
        self.con.execute("CREATE VIEW runs AS SELECT "
                         + ", ".join(f'"{k}"' for k in shown) + f" FROM {source}")
        self._pending = {view: [(r["run_dir"], self.root / r["run_dir"] / file)
                                for r in rows if r.get(flag)]
                         for view, file, flag in (("evaluations", "evals.parquet", "_evals"),
                                                  ("episodes", "episodes.parquet", "_episodes"))}

    def _read_index(self) -> dict[str, dict[str, Any]]:
        if not (self.root / self.INDEX).is_file():
            return {}  # (and pq.read_table would import pyarrow.dataset, 0.3 s, for nothing)
        try:  # (ParquetFile: pq.read_table would import pyarrow.dataset and pandas)
            return {r["run_dir"]: r
                    for r in pq.ParquetFile(self.root / self.INDEX).read().to_pylist()}
        except (OSError, pa.ArrowInvalid, KeyError):
            return {}

    def _load_rows(self, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """The rows as DuckDB's table ``_runs``, through newline-delimited JSON: DuckDB
        infers each column's type over every row (numbers mixed with text become
        text). (Handing DuckDB an Arrow table instead makes it import pandas, 0.3 s.)"""
        if not rows:
            columns = ", ".join(f'"{k}" VARCHAR' for k in keys)
            self.con.execute(f"CREATE TABLE _runs ({columns})")
            return
        with tempfile.TemporaryDirectory(prefix="robolabor-runs-") as folder:
            lines = Path(folder) / "runs.jsonl"
            lines.write_text("\n".join(json.dumps({k: r.get(k) for k in keys}, default=str)
                                        for r in rows))
            self.con.execute(f"CREATE TABLE _runs AS SELECT * FROM read_json("
                             f"{_sql_text(lines)}, format = 'newline_delimited', "
                             "sample_size = -1, maximum_object_size = 67108864)")

    def _write_index(self) -> None:
        tmp = self.root / (self.INDEX + ".tmp")
        try:
            self.con.execute(f"COPY _runs TO {_sql_text(tmp)} (FORMAT parquet)")
            os.replace(tmp, self.root / self.INDEX)
        except (OSError, _duckdb().Error):
            tmp.unlink(missing_ok=True)  # a read-only folder: no cache

    def _summarise(self, rows: list[dict[str, Any]]) -> None:
        """Fill each row's final and best evaluation (DuckDB over their evals files)."""
        for row in rows:
            row.update(dict.fromkeys(RUN_COLUMNS[6:], None))
            row["wall_seconds"] = row.pop("meta_wall_seconds", None)
        with_evals = [r for r in rows if r.get("_evals")]
        if not with_evals:
            return
        by_dir = {r["run_dir"]: r for r in with_evals}
        self._parquet_view("_fresh_evals", [(r["run_dir"], str(self.root / r["run_dir"] /
                                                              "evals.parquet"))
                                            for r in with_evals])
        for summary in self.query(SUMMARY_SQL.format(source="_fresh_evals")):
            row = by_dir[summary.pop("run_dir")]
            eval_wall = summary.pop("eval_wall_seconds")
            row.update(summary)
            if row["wall_seconds"] is None:  # an unfinished run: its last evaluation's
                row["wall_seconds"] = eval_wall

    def _parquet_view(self, view: str, files: list[tuple[str, str]]) -> None:
        listed = ", ".join(_sql_text(p) for _, p in files)
        pairs = ", ".join(f"({_sql_text(r)}, {_sql_text(p)})" for r, p in files)
        self.con.execute(f"""
            CREATE OR REPLACE VIEW {view} AS
            SELECT f.run_dir, t.* EXCLUDE (filename)
            FROM read_parquet([{listed}], union_by_name = true, filename = true) t
            JOIN (VALUES {pairs}) f(run_dir, file) ON f.file = t.filename""")

    def _table_view(self, view: str, files: list[tuple[str, Path]]) -> None:
        if files:
            self._parquet_view(view, [(rel, str(p)) for rel, p in files])
        else:
            self.con.execute(f"CREATE VIEW {view} AS SELECT NULL::VARCHAR AS run_dir "
                             "WHERE false")

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of any SQL over runs, evaluations and episodes, as dicts."""
        duckdb = _duckdb()
        for view in [v for v in self._pending if re.search(rf"\b{v}\b", sql, re.I)]:
            self._table_view(view, self._pending.pop(view))  # binding reads every schema
        try:
            cursor = self.con.execute(sql)
        except duckdb.Error as exc:
            raise UserError(f"SQL: {' '.join(str(exc).split())}") from None
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def runs(self, where: str | None = None) -> list[dict[str, Any]]:
        clause = f" WHERE {where}" if where else ""
        return self.query(f"SELECT * FROM runs{clause} ORDER BY run_dir")

    def varying_config_keys(self, rows: list[dict[str, Any]]) -> list[str]:
        """Config columns whose value differs between the rows (the seed aside)."""
        def token(value: Any) -> tuple[str, Any]:  # 1, 1.0 and True stay apart
            return type(value).__name__, value if isinstance(value, Hashable) else repr(value)

        return [k for k in self.config_keys if k != "train.seed"
                and len({token(r.get(k)) for r in rows}) > 1]


def table_for(target: str | Path) -> RunTable:
    """The runs table of a folder, or of a storage URI: a synced store's record files
    (never its checkpoints) are mirrored into a local folder first, so run_dir stays
    the run's name relative to the store."""
    if "://" not in str(target):
        return RunTable(target)
    from robolabor.experiments.storage import resolve_storage

    root = resolve_storage(target)
    if isinstance(root, Path):
        return RunTable(root)
    return RunTable(root.mirror_records(root.records_cache()))


def format_rows(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain text table (floats to 4 significant digits)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(line.rstrip() for line in lines)
