"""The HTTP API (FastAPI test client): same answers as the library, bounded, no server paths."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

import warnings  # noqa: E402

with warnings.catch_warnings():  # starlette's test client deprecates plain httpx (not our code)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from inferplan.catalog._load import data_path  # noqa: E402
from inferplan.web.app import Limits, create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def _config(mid: str = "llama-3.1-8b") -> dict:
    return json.loads(data_path("models", f"{mid}.json").read_text())


def test_estimate_returns_what_the_library_returns(client):
    from inferplan.perf.estimate import estimate

    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "input_len": 512, "output_len": 64,
            "mode": "concurrency", "batch": 8}
    r = client.post("/api/estimate", json=body)
    assert r.status_code == 200
    ref = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=8, input_len=512, output_len=64)
    got = r.json()
    assert got["tpot_s"] == pytest.approx(ref.tpot_s) and got["devices"] == ref.devices
    assert set(ref.model_dump()) == set(got)


def test_an_offline_estimate_takes_the_runs_request_count(client):
    body = {"model": "llama-3.2-1b", "hardware": "h100-sxm", "engine": "tensorrt-llm",
            "input_len": 128, "output_len": 128, "mode": "offline"}
    full = client.post("/api/estimate", json=body)
    run = client.post("/api/estimate", json={**body, "requests": 1000})
    assert full.status_code == run.status_code == 200
    assert full.json()["batch"] == 2048 and run.json()["batch"] == 1000
    bad = client.post("/api/estimate", json={**body, "mode": "batch", "requests": 1000})
    assert bad.status_code == 422 and "offline" in bad.text
    r = client.post("/api/compare", json={**{k: v for k, v in body.items() if k != "engine"},
                                          "hardware": ["h100-sxm"], "requests": 10})
    assert r.status_code == 200 and r.json()["rows"][0]["estimate"]["batch"] == 10


def test_unknown_hardware_is_a_400_with_suggestions(client):
    r = client.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sx"})
    assert r.status_code == 400 and "did you mean h100-sxm" in r.json()["detail"]


def test_a_model_path_is_never_read(client, tmp_path):
    secret = tmp_path / "config.json"
    secret.write_text(json.dumps(_config()))
    for name in (str(secret), "../../etc/passwd", "~/x.json"):
        r = client.post("/api/estimate", json={"model": name, "hardware": "h100-sxm"})
        assert r.status_code == 422, name  # not a catalog id: rejected before any lookup
    r = client.post("/api/estimate", json={"model": "config.json", "hardware": "h100-sxm"})
    assert r.status_code == 400 and "unknown model" in r.json()["detail"]


def test_a_pasted_config_json_is_estimated(client):
    r = client.post("/api/estimate", json={"config": _config(), "config_name": "mine",
                                           "hardware": "h100-sxm"})
    assert r.status_code == 200 and r.json()["model"] == "mine"
    ref = client.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm"}).json()
    assert r.json()["tpot_s"] == pytest.approx(ref["tpot_s"])


@pytest.mark.parametrize("change, status", [
    ({"num_hidden_layers": 10**6}, 422),  # bounded before any work
    ({"hidden_size": 1e300}, 422),
    ({"num_attention_heads": 0}, 400),  # the adapter's own arithmetic fails: input, not a bug
    ({"model_type": "mamba", "architectures": ["MambaForCausalLM"]}, 400),  # unsupported family
])
def test_a_bad_pasted_config_is_a_client_error(client, change, status):
    cfg = _config() | change
    r = client.post("/api/estimate", json={"config": cfg, "hardware": "h100-sxm"})
    assert r.status_code == status, r.text


def test_model_and_config_are_exclusive(client):
    r = client.post("/api/estimate", json={"model": "llama-3.1-8b", "config": _config(),
                                           "hardware": "h100-sxm"})
    assert r.status_code == 422
    r = client.post("/api/estimate", json={"hardware": "h100-sxm"})
    assert r.status_code == 422


@pytest.mark.parametrize("field, value", [("input_len", 1 << 21), ("batch", 10**6), ("output_len", -1),
                                          ("devices", 0), ("mode", "stream")])
def test_sizes_are_bounded(client, field, value):
    r = client.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "l4", field: value})
    assert r.status_code == 422


def test_hardware_lists_are_bounded(client):
    from inferplan.web.schemas import MAX_HARDWARE

    r = client.post("/api/compare", json={"model": "llama-3.1-8b", "hardware": ["l4"] * (MAX_HARDWARE + 1)})
    assert r.status_code == 422


def test_large_bodies_are_refused_with_413(client):
    r = client.post("/api/estimate", content=b" " * (600 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_compare_and_fit_mirror_the_library(client):
    from inferplan.compare import compare, fit

    r = client.post("/api/compare", json={"model": "llama-3.1-70b", "hw_class": "gpu", "sort": "speed"})
    assert r.status_code == 200
    ref = compare("llama-3.1-70b", hw_class="gpu", sort="speed")
    assert [x["hardware"] for x in r.json()["rows"]] == [x.hardware for x in ref.rows]
    r = client.post("/api/fit", json={"model": "llama-3.1-405b", "context": 8192})
    assert r.status_code == 200
    assert r.json() == json.loads(fit("llama-3.1-405b", context=8192).model_dump_json())


def test_catalog_listings(client):
    models = client.get("/api/models").json()["models"]
    assert {"llama-3.1-8b", "deepseek-v3"} <= {m["id"] for m in models}
    hw = client.get("/api/hardware", params={"hw_class": "wafer"}).json()["hardware"]
    assert [h["id"] for h in hw] == ["cerebras-cs3"]
    assert client.get("/api/hardware", params={"hw_class": "gpus"}).status_code == 422
    assert any(p["id"] == "q4_k_m" for p in client.get("/api/precisions").json()["precisions"])


def test_report_view_has_table_and_figures(client):
    r = client.post("/api/report/view", json={"model": "llama-3.1-8b", "hardware": ["h100-sxm", "l4"],
                                              "mode": "concurrency", "batch": 8})
    assert r.status_code == 200
    v = r.json()
    assert '<table class="compare">' in v["table_html"] and "h100-sxm" in v["table_html"]
    assert set(v["figures"]) == {"pareto", "roofline", "memory", "throughput"}
    assert all("data" in f and "layout" in f for f in v["figures"].values())


def test_report_download_is_a_self_contained_html_file(client):
    r = client.post("/api/report", json={"model": "llama-3.1-8b", "hardware": ["h100-sxm"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'filename="inferplan-report-llama-3.1-8b.html"' in r.headers["content-disposition"]
    assert "Plotly.newPlot" in r.text and 'src="http' not in r.text


def test_page_and_assets_are_served_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text
    assert "http://" not in page.text.replace('href="/docs"', "") and "https://" not in page.text
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/api/estimate"]["post"]


def test_a_slow_computation_gets_a_503():
    import time

    from inferplan.web import app as web

    slow = web.create_app(Limits(timeout_s=0.05))
    orig = web.resolve_model

    def sleepy(choice):
        time.sleep(0.3)
        return orig(choice)

    web.resolve_model = sleepy
    try:
        with TestClient(slow) as c:
            r = c.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "l4"})
    finally:
        web.resolve_model = orig
    assert r.status_code == 503 and "longer than" in r.json()["detail"]


def _cpu_ticks(pid: int) -> int:
    fields = open(f"/proc/{pid}/stat").read().split(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_a_timed_out_request_frees_its_worker_and_cpu():
    """Past the deadline the worker process is killed (its CPU is freed), and the one-worker
    pool serves the next request at once with a fresh worker."""
    import os
    import time

    from inferplan.web import app as web
    from inferplan.web.pool import pid_alive

    app_ = web.create_app(Limits(timeout_s=1.0, workers=1))
    pool = app_.state.pool
    orig = web.resolve_model

    def spin(choice):  # a computation that never ends on its own, burning CPU
        while True:
            pass

    web.resolve_model = spin  # workers fork after this: they inherit it
    try:
        with TestClient(app_) as c:
            t0 = time.monotonic()
            r = c.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "l4"})
            assert r.status_code == 503 and "stopped" in r.json()["detail"]
            assert time.monotonic() - t0 < 5
            (dead,) = pool.killed_pids
            assert not pid_alive(dead)  # the work ended with its process
            assert pool.busy == 0 and pool.pids == []  # the worker slot is free
            web.resolve_model = orig
            r = c.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "l4"})
            assert r.status_code == 200
            (worker,) = pool.pids
            assert worker != dead and worker != os.getpid()
            before = _cpu_ticks(worker)
            time.sleep(0.3)
            assert _cpu_ticks(worker) - before <= 2  # idle: nothing left computing
    finally:
        web.resolve_model = orig


@pytest.mark.parametrize("body", [
    b'{"model": "llama-3.1-8b", "hardware": "l4", "usd_per_hour": NaN}',
    b'{"model": "llama-3.1-8b", "hardware": "l4", "usd_per_hour": Infinity}',
    b'{"model": "llama-3.1-8b", "hardware": "l4", "input_len": -Infinity}',
])
def test_nan_and_infinity_are_a_422(client, body):
    r = client.post("/api/estimate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


def test_nan_in_a_pasted_config_is_a_422(client):
    text = json.dumps({"config": _config() | {"rope_theta": 1.0}, "hardware": "l4"})
    r = client.post("/api/estimate", content=text.replace("1.0", "NaN").encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "NaN" in r.text


def test_deeply_nested_and_huge_bodies_are_client_errors(client):
    deep = b'{"config": ' + b"[" * 50_000 + b"]" * 50_000 + b', "hardware": "l4"}'
    r = client.post("/api/estimate", content=deep, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    nested: dict = {}
    cur = nested
    for _ in range(20):
        cur["x"] = {}
        cur = cur["x"]
    r = client.post("/api/estimate", json={"config": _config() | {"deep": nested}, "hardware": "l4"})
    assert r.status_code == 422 and "nested deeper" in r.text
    r = client.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "l4", "batch": 10**30})
    assert r.status_code == 422


def test_error_bodies_carry_our_messages_only(client):
    for change in ({"num_attention_heads": 0}, {"hidden_size": 7, "num_attention_heads": 3},
                   {"intermediate_size": [1, 2]}, {"num_key_value_heads": 5}):
        r = client.post("/api/estimate", json={"config": _config() | change, "hardware": "l4"})
        assert 400 <= r.status_code < 500, (change, r.text)
        detail = r.json()["detail"]
        text = detail if isinstance(detail, str) else json.dumps(detail)
        for leak in ("ZeroDivisionError", "Traceback", "TypeError:", "KeyError:"):
            assert leak not in text, (change, text)


def test_api_docs_load_their_assets_locally(client):
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200, page
        assert "cdn" not in r.text.lower() and "https://" not in r.text, page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        r = client.get(f"/docs-assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000, asset


def test_serve_warns_when_exposed(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    import inferplan.cli.cmd_report as cmd_report
    from inferplan.cli.main import app

    calls = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, host, port, log_level: calls.update(host=host, port=port))
    monkeypatch.setattr(cmd_report, "_check_bindable", lambda host, port: None)  # 8765 may be in use
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8765"])
    assert r.exit_code == 0 and "Warning" in r.stderr and calls == {"host": "0.0.0.0", "port": 8765}
    r = CliRunner().invoke(app, ["serve"])
    assert r.exit_code == 0 and "Warning" not in r.stderr and calls["host"] == "127.0.0.1"


def test_simulate_route_runs_a_bounded_preset(client):
    pytest.importorskip("inferplan.sim")
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "workload": "chat", "rate": 4,
            "requests": 300, "slo": {"p90_ttft_s": 2.0}}
    r = client.post("/api/simulate", json=body)
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]
    assert m["requests"] == 300 and m["ttft_s"]["p50"] > 0
    assert client.post("/api/simulate", json=body | {"requests": 10**6}).status_code == 422
    assert client.post("/api/simulate", json=body | {"workload": "/etc/passwd"}).status_code == 422
    r = client.post("/api/simulate", json=body | {"workload": "chatty"})
    assert r.status_code == 400 and "unknown workload" in r.json()["detail"]


def test_plan_route_needs_a_bounded_hardware_list(client):
    pytest.importorskip("inferplan.plan")
    body = {"models": ["llama-3.1-8b"], "rate": 2, "slo": {"p90_ttft_s": 1, "p90_tpot_s": 0.05}}
    r = client.post("/api/plan", json=body)
    assert r.status_code == 400 and "hardware" in r.json()["detail"]
    r = client.post("/api/plan", json=body | {"hardware": ["h100-sxm", "l4"], "requests": 100})
    assert r.status_code == 200, r.text
    assert r.json()["winner"]
    from inferplan.catalog.hardware import hardware_catalog

    many = sorted(hardware_catalog())[:17]  # one more than MAX_PLAN_HARDWARE
    assert client.post("/api/plan", json=body | {"hardware": many}).status_code == 422


def test_audit_route_checks_the_bundled_claims(client):
    pytest.importorskip("inferplan.audit.run")
    r = client.get("/api/audit")
    assert r.status_code == 200
    assert sum(r.json()["counts"].values()) == len(r.json()["results"]) > 0


def test_serve_on_a_port_in_use_is_an_input_error_before_it_announces_an_address(monkeypatch):
    import socket

    import uvicorn
    from typer.testing import CliRunner

    from inferplan.cli.main import app

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn.run was called"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert r.exit_code == 2 and "in use" in r.stderr and "web app on" not in r.stderr


def test_evidence_lists_the_nearest_measurements_with_heldout_predictions(client):
    body = {"model": "deepseek-r1", "hardware": "mi355x", "devices": 8, "precision": "fp8",
            "engine": "sglang", "mode": "concurrency", "batch": 64, "input_len": 922,
            "output_len": 922, "k": 4}
    r = client.post("/api/evidence", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert len(d["rows"]) == 4 and d["rows"][0]["distance"] == 0.0
    assert d["rows"][0]["predicted_heldout"] > 0 and "ape" in d["rows"][0]
    pasted = client.post("/api/evidence", json={"config": _config(), "hardware": "h100-sxm", "k": 2})
    assert pasted.status_code == 200 and len(pasted.json()["rows"]) == 2
    assert client.post("/api/evidence", json={**body, "k": 0}).status_code == 422
