"""``--model ORG/NAME``: the local Hugging Face cache first, a fetch only online; never the network
in tests (a fake cache folder, a fake ``huggingface_hub``)."""

from __future__ import annotations

import json
import sys
import types

import pytest
from typer.testing import CliRunner

from inferplan.catalog._load import data_path
from inferplan.cli.main import app
from inferplan.models.hf_cache import cached_config, hub_cache_dir
from inferplan.models.registry import get_model

REPO = "acme/tiny-llama"
runner = CliRunner()


def _cache(root, repo=REPO, ref="0123abcd", cfg_from="llama-3.2-1b"):
    d = root / f"models--{repo.replace('/', '--')}"
    (d / "refs").mkdir(parents=True)
    (d / "refs" / "main").write_text(ref)
    snap = d / "snapshots" / ref
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(data_path("models", f"{cfg_from}.json").read_text())
    return snap / "config.json"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # never the real package
    return root


def test_cache_dir_follows_hf_home_and_hf_hub_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hub_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert hub_cache_dir() == tmp_path / "c"


def test_a_cached_model_is_read_from_its_main_snapshot(hub):
    path = _cache(hub)
    assert cached_config(REPO) == path
    spec = get_model(REPO)
    ref = get_model("llama-3.2-1b")
    assert spec.id == REPO and spec.total_params == ref.total_params
    assert "Hugging Face" in spec.source


def test_cli_estimates_a_cached_model_by_org_name(hub):
    _cache(hub)
    r = runner.invoke(app, ["estimate", "-m", REPO, "-H", "h100-sxm", "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model"] == REPO


def test_offline_miss_says_how_to_pass_a_config(hub):
    r = runner.invoke(app, ["estimate", "-m", "acme/absent", "-H", "h100-sxm"])
    assert r.exit_code == 2
    assert "not in the Hugging Face cache" in r.stderr and "config.json" in r.stderr
    assert isinstance(r.exception, SystemExit)  # a message and exit 2, not an uncaught error


def test_without_the_hf_extra_the_message_names_it(hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    r = runner.invoke(app, ["estimate", "-m", "acme/absent", "-H", "h100-sxm"])
    assert r.exit_code == 2 and "inferplan[hf]" in r.stderr


def test_online_miss_fetches_with_huggingface_hub(hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls = []

    def hf_hub_download(repo_id, filename):  # what the real one does: a file in the cache
        calls.append((repo_id, filename))
        return str(_cache(hub, repo_id))

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    assert get_model("acme/fresh").id == "acme/fresh" and calls == [("acme/fresh", "config.json")]


def test_a_failed_fetch_is_an_input_error(hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")

    def hf_hub_download(repo_id, filename):
        raise ConnectionError("Name or service not known")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    r = runner.invoke(app, ["estimate", "-m", "acme/absent", "-H", "h100-sxm"])
    assert r.exit_code == 2 and "could not be fetched" in r.stderr and "offline?" in r.stderr
