"""The HTTP API carries --offload experts, --host, --slots and the SRAM pipeline view."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

import warnings  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from inferplan.perf.estimate import estimate  # noqa: E402
from inferplan.web.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_estimate_offloads_experts_to_the_named_host(client):
    body = {"model": "deepseek-v3", "hardware": "rtx-4090", "precision": "q4_k_m", "devices": 2,
            "offload": "experts", "host": "epyc-9755", "input_len": 512, "output_len": 64}
    r = client.post("/api/estimate", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    ref = estimate("deepseek-v3", "rtx-4090", precision="q4_k_m", devices=2, offload="experts",
                   host="epyc-9755", input_len=512, output_len=64)
    assert got["expert_host"] == "epyc-9755" and got["bound"]["decode"] == "offload"
    assert got["tpot_s"] == pytest.approx(ref.tpot_s)


def test_estimate_and_compare_take_slots(client):
    one = client.post("/api/estimate", json={"model": "llama-3.2-1b", "hardware": "ryzen-9-7950x",
                                             "mode": "concurrency", "batch": 4, "slots": 1}).json()
    four = client.post("/api/estimate", json={"model": "llama-3.2-1b", "hardware": "ryzen-9-7950x",
                                              "mode": "concurrency", "batch": 4, "slots": 4}).json()
    assert four["output_tok_s"] > 2 * one["output_tok_s"]
    r = client.post("/api/compare", json={"model": "llama-3.2-1b", "hw_class": "cpu",
                                          "mode": "concurrency", "batch": 4, "slots": 2})
    assert r.status_code == 200
    bad = client.post("/api/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm", "slots": 2})
    assert bad.status_code == 400 and "slots" in bad.json()["detail"]


def test_wafer_estimate_has_its_pipeline(client):
    r = client.post("/api/estimate", json={"model": "llama-3.1-70b", "hardware": "cerebras-cs3",
                                           "precision": "bf16", "input_len": 1000, "output_len": 1000})
    p = r.json()["pipeline"]
    assert p["device_kind"] == "wafer" and p["stages"] == 4 and p["system_price_usd"] > 0


def test_simulate_takes_slots(client):
    r = client.post("/api/simulate", json={"model": "llama-3.2-1b", "hardware": "ryzen-9-7950x",
                                           "slots": 2, "requests": 30, "workload": "chat", "rate": 0.5})
    assert r.status_code == 200, r.text
    assert r.json()["pools"][0]["max_num_seqs"] == 2


def test_estimate_and_simulate_take_engine_launch_options(client):
    base = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "engine": "sglang", "mode": "concurrency",
            "batch": 16, "input_len": 1000, "output_len": 300}
    plain = client.post("/api/estimate", json=base).json()
    polled = client.post("/api/estimate", json={**base, "engine_options": {"scheduler_recv_interval": 30}})
    assert polled.status_code == 200, polled.text
    assert polled.json()["ttft_s"] > plain["ttft_s"] and "admission" in polled.json()["assumptions"]
    bad = client.post("/api/estimate", json={**base, "engine_options": {"max_num_seq": 8}})
    assert bad.status_code == 400 and "max_num_seqs" in bad.json()["detail"]
    frac = client.post("/api/estimate", json={**base, "engine_options": {"max_num_seqs": 8.5}})
    assert frac.status_code == 400 and "whole number" in frac.json()["detail"]
    sim = client.post("/api/simulate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm", "requests": 50,
                                             "rate": 2, "engine_options": {"max_num_seqs": 12}})
    assert sim.status_code == 200, sim.text
    assert sim.json()["pools"][0]["max_num_seqs"] == 12


def test_an_org_name_alias_resolves_through_the_catalog_and_never_as_a_server_path(client):
    r = client.post("/api/estimate", json={"model": "meta-llama/llama-3.1-8b", "hardware": "h100-sxm"})
    assert r.status_code == 200 and r.json()["model"] == "llama-3.1-8b"
    r = client.post("/api/estimate", json={"model": "src/inferplan", "hardware": "h100-sxm"})
    assert r.status_code == 400 and "unknown model" in r.json()["detail"]  # a folder here: not read
    r = client.post("/api/estimate", json={"model": "../etc", "hardware": "h100-sxm"})
    assert r.status_code == 422


def test_engine_options_take_words_and_the_whole_catalog_compares(client):
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "engine": "tensorrt-llm",
            "mode": "concurrency", "batch": 64,
            "engine_options": {"scheduler_policy": "max_utilization"}}
    assert client.post("/api/estimate", json=body).status_code == 200
    body["engine_options"] = {"scheduler_policy": "bogus"}
    r = client.post("/api/estimate", json=body)
    assert r.status_code == 400 and "max_utilization" in r.json()["detail"]
    hws = [h["id"] for h in client.get("/api/hardware").json()["hardware"]]
    assert len(hws) > 64
    r = client.post("/api/compare", json={"model": "llama-3.1-8b", "hardware": hws})
    assert r.status_code == 200 and len(r.json()["rows"]) == len(hws)


def test_compare_takes_the_clis_engine_options_and_device_count(client):
    body = {"model": "llama-3.1-70b", "hardware": ["rtx-3090", "rtx-4090"], "precision": "q4_k_m",
            "devices": 1, "engine_options": {"n_gpu_layers": 40}}
    r = client.post("/api/compare", json=body)
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert all(x["fits"] and x["estimate"]["devices"] == 1 and x["estimate"]["host_layers"]["gpu_layers"] == 40
               for x in rows)
    r = client.post("/api/compare", json={**body, "engine": "vllm"})
    assert r.status_code == 400 and "n_gpu_layers" in r.json()["detail"]


def test_errors_name_the_request_fields_not_the_cli_flags(client):
    body = {"model": "llama-3.1-8b", "hardware": "rtx-4090", "offload": "experts"}
    r = client.post("/api/estimate", json=body)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert 'offload="experts"' in detail and "--offload" not in detail
    both = {"model": "llama-3.1-70b", "hardware": "rtx-4090", "precision": "q4_k_m", "devices": 1,
            "engine": "llama.cpp", "offload": "experts", "engine_options": {"n_gpu_layers": 40}}
    detail = client.post("/api/estimate", json=both).json()["detail"]
    assert "--offload" not in detail and "--n-cpu-moe" in detail  # llama.cpp's own flag stays


def test_api_words_keeps_what_is_not_ours():
    from inferplan.web.app import api_words

    assert api_words("vllm --max-num-seqs 256; --hardware-file x") == "vllm --max-num-seqs 256; --hardware-file x"
    assert api_words("(--offload auto, -O n_gpu_layers=N)") == '(offload="auto", engine_options {"n_gpu_layers": N})'
    assert api_words("--host picks another CPU") == "host picks another CPU"
