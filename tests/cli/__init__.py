"""Shared by the CLI tests: run a command in-process and a canonical CSV header."""

from __future__ import annotations

from typer.testing import CliRunner

from inferplan.cli.main import app

runner = CliRunner()
HEAD = ("id,source,model_id,hardware_id,num_devices,tp,pp,ep,weight_precision,kv_precision,"
        "engine,mode,batch,input_len,output_len,metric,value,reliability,notes\n")


def run(*args: object, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``inferplan ARGS``; any exception but an exit fails."""
    r = runner.invoke(app, [str(a) for a in args], env=env)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr
