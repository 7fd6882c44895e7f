"""Run history: every ``bench``, ``validate`` and ``calibrate`` run in ``$INFERPLAN_HOME/history.db``.

SQLite, because it is in the standard library and gives what a history needs:

- **versioned schema**: a ``schema_version`` table and :data:`MIGRATIONS`, an ordered list of
  functions; migration *i* brings the schema from version *i* to *i + 1*. Opening a database
  applies the missing ones in one transaction; a database newer than this code is refused.
- **atomic writes**: a run and its rows are written in one ``BEGIN IMMEDIATE`` transaction, so
  an exception or a killed process leaves either the whole run or nothing.
- **concurrent runs**: WAL journal (readers never block the writer) and a busy timeout (a
  second writer waits for the first instead of failing).

Tables (version 2): ``runs`` (id, kind, status, started_at, finished_at, args_json,
summary_json, result_json, error, host, inferplan_version) and ``run_rows`` (run_id, idx,
row_json): the measured or predicted rows of a run, one per canonical CSV row.

Not here: what a run's summary or result contains (its command decides; the CLI layer calls
:func:`record_run`). Reading never writes, except that opening applies pending migrations.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.config import home_dir
from inferplan.errors import InferplanError, InputError

__all__ = ["DB_NAME", "MIGRATIONS", "SCHEMA_VERSION", "RunSummary", "RunRecord", "StateError",
           "db_path", "connect", "migrate", "record_run", "try_record_run", "recorded_run",
           "list_runs", "get_run", "now", "atomic_write_text", "package_version"]

DB_NAME = "history.db"
BUSY_TIMEOUT_S = 30.0  # a concurrent writer waits this long for the lock before failing


def db_path() -> Path:
    return home_dir() / DB_NAME


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds")


# --- schema migrations -----------------------------------------------------------------------------


def _v1(db: sqlite3.Connection) -> None:
    """Runs with their args, summary and result as JSON (rows inside result_json['rows'])."""
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            args_json TEXT NOT NULL DEFAULT '{}',
            summary_json TEXT NOT NULL DEFAULT '{}',
            result_json TEXT
        )""")
    db.execute("CREATE INDEX runs_by_kind ON runs (kind, started_at)")


def _v2(db: sqlite3.Connection) -> None:
    """Status, error and provenance columns; rows move out of result_json into run_rows."""
    for col in ("status TEXT NOT NULL DEFAULT 'ok'", "error TEXT",
                "host TEXT NOT NULL DEFAULT ''", "inferplan_version TEXT NOT NULL DEFAULT ''"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {col}")
    db.execute("""
        CREATE TABLE run_rows (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            row_json TEXT NOT NULL,
            PRIMARY KEY (run_id, idx)
        )""")
    for run_id, result in db.execute("SELECT id, result_json FROM runs").fetchall():
        data = json.loads(result) if result else None
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            continue
        rows = data.pop("rows")
        db.executemany("INSERT INTO run_rows (run_id, idx, row_json) VALUES (?, ?, ?)",
                       [(run_id, i, json.dumps(r)) for i, r in enumerate(rows)])
        db.execute("UPDATE runs SET result_json = ? WHERE id = ?", (json.dumps(data), run_id))


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls everything back."""
    db.execute("BEGIN IMMEDIATE")  # take the write lock now (waits up to the busy timeout)
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def schema_version(db: sqlite3.Connection) -> int:
    has = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has:
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations from the database's version up to ``target``; return the version."""
    with transaction(db):  # two processes opening a fresh database migrate one after the other
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise InferplanError(
                f"history database {_name(db)} has schema version {current}, newer than this "
                f"inferplan understands ({SCHEMA_VERSION}); upgrade inferplan or move the file away")
        if current >= target:
            return current
        if current == 0:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (0)")
        for v in range(current, target):
            MIGRATIONS[v](db)
        db.execute("UPDATE schema_version SET version = ?", (target,))
    return target


def _name(db: sqlite3.Connection) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else "(memory)"


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL once per database. Changing the journal mode needs a moment of exclusive
    access, and SQLite answers SQLITE_BUSY at once (without the busy handler) when another
    process is creating or migrating the file; retry until the busy timeout."""
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def connect(path: Path | None = None, *, migrate_to: int | None = SCHEMA_VERSION) -> sqlite3.Connection:
    """Open (creating the folder and file if needed) and migrate the history database.

    A file that is not an SQLite database (corrupt, truncated) is moved aside as
    ``history.db.corrupt-<time>`` with a warning, and a new history starts. A folder that cannot
    be written raises :class:`StateError` (readers use :func:`_connect_read`)."""
    path = Path(path) if path else db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _open(path, migrate_to)
    except sqlite3.DatabaseError as e:
        if not _is_corrupt(e):
            raise StateError(f"history {path}: {e}") from None
    moved = _move_aside(path)
    warnings.warn(f"the history {path} was not a readable database; moved it to {moved.name} and "
                  "started a new one", stacklevel=2)
    try:
        return _open(path, migrate_to)
    except sqlite3.Error as e:
        raise StateError(f"history {path}: {e}") from None


def _open(path: Path, migrate_to: int | None) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # explicit transactions
    try:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _enable_wal(db)
        db.execute("PRAGMA foreign_keys = ON")
        if migrate_to is not None:
            migrate(db, migrate_to)
    except BaseException:
        db.close()
        raise
    return db


def _is_corrupt(e: sqlite3.DatabaseError) -> bool:
    text = str(e).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _move_aside(path: Path) -> Path:
    stamp = now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.replace(target)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
    except OSError as e:
        raise StateError(f"the history {path} is not a readable database and cannot be moved "
                         f"aside ({e.strerror or e}); move or delete it") from None
    return target


def _connect_read(path: Path) -> sqlite3.Connection:
    """Open an existing history for reading: normally, or read-only when the home cannot be
    written (a read-only home still lists its history)."""
    try:
        return connect(path)
    except (StateError, sqlite3.OperationalError, OSError) as first:
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 isolation_level=None)
            if schema_version(db) > SCHEMA_VERSION:
                db.close()
                raise StateError(f"history database {path} is newer than this inferplan") from None
            if schema_version(db) < SCHEMA_VERSION:
                db.close()
                raise StateError(f"history {path}: {first}") from None
            return db
        except sqlite3.Error as e:
            raise StateError(f"history {path} cannot be read: {e}") from None


class StateError(InferplanError):
    """A file in INFERPLAN_HOME (history, profiles) cannot be read or written."""


def _umask() -> int:
    """The process's umask, read without changing it where the OS tells it (Linux), since
    setting it to read it back races with other threads creating files."""
    import os

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a
    rename): a crash or a full disk never leaves half a file. Errors name the file."""
    import os
    import tempfile

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                # mkstemp makes the file 0600: give it the mode it had, else the one a plain open()
                # would (umask); a file system without modes (vfat, some CIFS mounts) keeps its own
                try:
                    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
                    os.fchmod(f.fileno(), mode)
                except OSError:
                    pass
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise StateError(f"cannot write {path}: {e.strerror or e}") from None
    return path


# --- runs -------------------------------------------------------------------------------------------


class RunSummary(BaseModel):
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    duration_s: float | None
    args: dict[str, Any]
    summary: dict[str, Any]
    rows: int
    error: str | None = None


class RunRecord(RunSummary):
    host: str
    inferplan_version: str
    result: Any
    row_data: list[dict[str, Any]]


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inferplan")
    except PackageNotFoundError:
        return "unknown"


_version = package_version


def record_run(kind: str, *, args: dict[str, Any], started_at: dt.datetime,
               finished_at: dt.datetime | None = None, summary: dict[str, Any] | None = None,
               result: Any = None, rows: Iterable[dict[str, Any]] = (), status: str = "ok",
               error: str | None = None, path: Path | None = None) -> int:
    """Write one run and its rows in one transaction; return the run id.

    Values must be JSON-serializable (``default=str`` turns paths and dates into strings); an
    exception part-way leaves nothing behind.
    """
    finished_at = finished_at or now()
    db = connect(path)
    try:
        with transaction(db):
            cur = db.execute(
                "INSERT INTO runs (kind, status, started_at, finished_at, args_json, summary_json, "
                "result_json, error, host, inferplan_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, status, _iso(started_at), _iso(finished_at), _args_json(args),
                 _dumps(summary or {}), _dumps(result), error, socket.gethostname(), _version()))
            run_id = int(cur.lastrowid or 0)
            for i, r in enumerate(rows):
                db.execute("INSERT INTO run_rows (run_id, idx, row_json) VALUES (?, ?, ?)",
                           (run_id, i, json.dumps(r, allow_nan=False)))
        return run_id
    finally:
        db.close()


def _args_json(args: dict[str, Any]) -> str:
    """A run's arguments: paths absolute (the history is read later, from anywhere)."""
    return json.dumps(args, default=lambda o: str(o.absolute()) if isinstance(o, Path) else str(o))


def _dumps(x: Any) -> str:
    return json.dumps(x, default=str)


def try_record_run(kind: str, **kw: Any) -> int | None:
    """:func:`record_run`, but a history that cannot be written only warns (the command's own
    result must not be lost because, say, ``INFERPLAN_HOME`` is read-only)."""
    try:
        return record_run(kind, **kw)
    except (sqlite3.Error, OSError, InferplanError, TypeError, ValueError) as e:
        warnings.warn(f"run not recorded in the history ({db_path()}): {e}", stacklevel=2)
        return None


class RecordedRun:
    """``with recorded_run(kind, args) as run: ...; run.done(summary=..., result=..., rows=...)``:
    records the run when done, or as an error when an InferplanError or a Ctrl-C escapes (and
    re-raises).
    A history that cannot be written only warns."""

    def __init__(self, kind: str, args: dict[str, Any]) -> None:
        self.kind, self.args, self.started = kind, args, now()
        self.run_id: int | None = None

    def done(self, **kw: Any) -> int | None:
        self.run_id = try_record_run(self.kind, args=self.args, started_at=self.started, **kw)
        return self.run_id

    def __enter__(self) -> RecordedRun:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if isinstance(exc, InferplanError):
            try_record_run(self.kind, args=self.args, started_at=self.started, status="error",
                           error=str(exc))
        elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C that nothing below turned into an error
            try_record_run(self.kind, args=self.args, started_at=self.started, status="error",
                           error="interrupted (Ctrl-C)")


def recorded_run(kind: str, args: dict[str, Any]) -> RecordedRun:
    return RecordedRun(kind, args)


_COLUMNS = ("id, kind, status, started_at, finished_at, args_json, summary_json, "
            "(SELECT COUNT(*) FROM run_rows WHERE run_id = runs.id), error")


def _summary(row: tuple) -> dict[str, Any]:
    rid, kind, status, start, end, args, summary, n, error = row[:9]
    dur = None
    if start and end:
        dur = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    return dict(id=rid, kind=kind, status=status, started_at=start, finished_at=end, duration_s=dur,
                args=json.loads(args or "{}"), summary=json.loads(summary or "{}"), rows=n,
                error=error)


def list_runs(kind: str | None = None, limit: int = 50, path: Path | None = None) -> list[RunSummary]:
    """The most recent runs first (all kinds, or one: bench, validate, calibrate)."""
    p = Path(path) if path else db_path()
    if not p.exists():
        return []
    db = _connect_read(p)
    try:
        q = f"SELECT {_COLUMNS} FROM runs"
        params: tuple = ()
        if kind:
            q += " WHERE kind = ?"
            params = (kind,)
        q += " ORDER BY id DESC LIMIT ?"
        return [RunSummary(**_summary(r)) for r in db.execute(q, (*params, limit)).fetchall()]
    finally:
        db.close()


def get_run(run_id: int, path: Path | None = None) -> RunRecord:
    """One run with its result and rows; InputError if there is no such run."""
    p = Path(path) if path else db_path()
    db = _connect_read(p) if p.exists() else None
    try:
        row = db.execute(f"SELECT {_COLUMNS}, host, inferplan_version, result_json "
                         "FROM runs WHERE id = ?", (run_id,)).fetchone() if db else None
        if row is None:
            raise InputError(f"no run {run_id} in the history {p} (`inferplan history` lists them)")
        rows = [json.loads(r[0]) for r in db.execute(  # type: ignore[union-attr]
            "SELECT row_json FROM run_rows WHERE run_id = ? ORDER BY idx", (run_id,))]
        host, version, result = row[9:]
        return RunRecord(**_summary(row), host=host, inferplan_version=version,
                         result=json.loads(result) if result else None, row_data=rows)
    finally:
        if db:
            db.close()
