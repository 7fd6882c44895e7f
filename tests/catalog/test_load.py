"""Catalog YAML reading: parsed once per file content, cached by hash, never stale."""

from __future__ import annotations

import pytest

from inferplan.catalog import _load
from inferplan.catalog._load import load_yaml
from inferplan.errors import CatalogError


def _no_parse(*a, **k):
    raise AssertionError("parsed again: the cache was not used")


def test_second_read_of_the_same_content_comes_from_the_cache(tmp_path, monkeypatch, _home):
    f = tmp_path / "a.yaml"
    f.write_text("- id: x\n  value: 1.5\n")
    first = load_yaml(f)
    assert list((_home / "cache").glob("yaml-*.pickle"))
    monkeypatch.setattr(_load.yaml, "load", _no_parse)
    assert load_yaml(f) == first == [{"id": "x", "value": 1.5}]


def test_a_changed_file_is_parsed_again(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\n")
    assert load_yaml(f) == {"a": 1}
    f.write_text("a: 2\n")
    assert load_yaml(f) == {"a": 2}


def test_cache_can_be_turned_off_and_a_read_only_home_still_reads(tmp_path, monkeypatch):
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\n")
    home = tmp_path / "home"
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    monkeypatch.setenv("INFERPLAN_NO_CACHE", "1")
    assert load_yaml(f) == {"a": 1}
    assert not list(home.glob("cache/yaml-*.pickle"))  # nothing written
    monkeypatch.delenv("INFERPLAN_NO_CACHE")
    f.write_text("a: 1 \n")  # new content: not in any in-process cache either
    assert load_yaml(f) == {"a": 1}
    assert list(home.glob("cache/yaml-*.pickle"))  # with the cache on, the parse is kept
    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path / "file-not-dir"))
    (tmp_path / "file-not-dir").write_text("")  # home is a file: the cache cannot be written
    assert load_yaml(f) == {"a": 1}


def test_a_damaged_cache_entry_is_ignored(tmp_path, _home):
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\n")
    load_yaml(f)
    for p in (_home / "cache").glob("yaml-*.pickle"):
        p.write_bytes(b"not a pickle")
    assert load_yaml(f) == {"a": 1}


def test_errors_still_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(CatalogError, match="bad.yaml"):
        load_yaml(bad)
    with pytest.raises(CatalogError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
