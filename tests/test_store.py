"""The run history: versioned migrations, atomic writes, concurrent writers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from inferplan import store
from inferplan.errors import InferplanError, InputError


def _record(kind="bench", **kw):
    return store.record_run(kind, args={"quick": True}, started_at=store.now(), **kw)


def test_a_run_and_its_rows_come_back_newest_first():
    a = _record(summary={"rows": 2}, result={"cpu": {"read": 1.5}}, rows=[{"id": "r1"}, {"id": "r2"}])
    b = _record("validate", summary={"median_ape": 0.1})
    runs = store.list_runs()
    assert [r.id for r in runs] == [b, a]
    assert store.list_runs(kind="bench")[0].rows == 2
    run = store.get_run(a)
    assert run.kind == "bench" and run.status == "ok" and run.args == {"quick": True}
    assert run.result == {"cpu": {"read": 1.5}} and [r["id"] for r in run.row_data] == ["r1", "r2"]
    assert run.duration_s is not None and run.duration_s >= 0
    assert store.db_path().exists()
    db = sqlite3.connect(store.db_path())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchone()[0] == store.SCHEMA_VERSION


def test_unknown_run_id_is_an_input_error():
    with pytest.raises(InputError, match="no run 42"):
        store.get_run(42)
    assert store.list_runs() == []  # reading an absent history creates nothing
    assert not store.db_path().exists()


def test_version_1_database_migrates_and_keeps_its_runs():
    db = store.connect(migrate_to=1)
    db.execute("INSERT INTO runs (kind, started_at, finished_at, args_json, summary_json, result_json) "
               "VALUES ('validate', '2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:02.000+00:00', "
               "'{}', '{\"rows\": 2}', ?)", (json.dumps({"rows": [{"id": "a"}, {"id": "b"}], "x": 1}),))
    assert store.schema_version(db) == 1
    db.close()
    run = store.get_run(1)  # opening migrates to the current version
    assert run.status == "ok" and run.duration_s == 2.0
    assert run.result == {"x": 1} and [r["id"] for r in run.row_data] == ["a", "b"]  # rows moved
    db = store.connect()
    assert store.schema_version(db) == store.SCHEMA_VERSION
    db.close()
    assert _record() == 2


def test_a_database_from_a_newer_inferplan_is_refused():
    store.connect().close()
    db = sqlite3.connect(store.db_path())
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(InferplanError, match="schema version 99"):
        store.list_runs()


def test_an_exception_mid_write_leaves_no_partial_run():
    _record()
    with pytest.raises(ValueError):
        _record(rows=[{"id": "fine"}, {"id": "bad", "value": float("nan")}])  # fails on row 2
    runs = store.list_runs()
    assert len(runs) == 1
    db = sqlite3.connect(store.db_path())
    assert db.execute("SELECT COUNT(*) FROM run_rows").fetchone()[0] == 0


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_process_killed_mid_transaction_leaves_no_partial_run():
    _record()
    p = _python("""
        import os
        from inferplan import store
        db = store.connect()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO runs (kind, started_at, args_json) VALUES ('bench', 'x', '{}')")
        db.execute("INSERT INTO run_rows (run_id, idx, row_json) VALUES (last_insert_rowid(), 0, '{}')")
        os._exit(1)  # killed before COMMIT
    """)
    assert p.wait(timeout=60) == 1, p.stderr.read()
    assert len(store.list_runs()) == 1
    db = sqlite3.connect(store.db_path())
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _record() == 2  # and the database takes new runs


def test_two_concurrent_writer_processes_are_both_recorded():
    code = """
        from inferplan import store
        for i in range(25):
            store.record_run("bench", args={"writer": "%s", "i": i},
                             started_at=store.now(), rows=[{"i": i}] * 5)
    """
    procs = [_python(code % w) for w in ("A", "B")]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    runs = store.list_runs(limit=100)
    assert len(runs) == 50 and len({r.id for r in runs}) == 50
    assert sorted(r.args["writer"] for r in runs) == ["A"] * 25 + ["B"] * 25
    assert all(r.rows == 5 for r in runs)


def test_an_unwritable_history_warns_instead_of_failing(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("INFERPLAN_HOME", str(blocker))
    with pytest.warns(UserWarning, match="not recorded"):
        assert store.try_record_run("bench", args={}, started_at=store.now()) is None


def test_atomic_writes_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        p = store.atomic_write_text(tmp_path / "report.html", "<p>x</p>")
        assert p.read_text() == "<p>x</p>" and (p.stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        q = store.atomic_write_text(tmp_path / "private.yaml", "a: 1")
        assert (q.stat().st_mode & 0o777) == 0o600
        os.umask(0o022)
        store.atomic_write_text(q, "a: 2")  # a replaced file keeps the mode its owner gave it
        assert (q.stat().st_mode & 0o777) == 0o600 and q.read_text() == "a: 2"
    finally:
        os.umask(old)
