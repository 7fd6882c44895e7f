"""Model lookup: catalog ids, aliases, did-you-mean, and user config.json files/folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from inferplan.catalog._load import data_path
from inferplan.errors import InputError, UnknownIdError, UnsupportedModelError
from inferplan.models.registry import ModelInfo, get_model, list_model_ids, model_info

# model_id values of the calibration data (shared/calibration/ids.md)
CALIBRATION_IDS = [
    "bitnet-b1.58-2b-4t", "bitnet-b1.58-3b", "deepseek-r1", "deepseek-v3", "gpt-oss-120b",
    "gpt-oss-20b", "lfm2.5-350m", "llama-2-13b", "llama-2-70b", "llama-2-7b", "llama-3-70b",
    "llama-3-8b", "llama-3.1-405b", "llama-3.1-70b", "llama-3.1-8b", "llama-3.3-70b",
    "llama-4-maverick", "llama3-8b-1.58-100b-tokens", "mistral-7b-v0.1", "mixtral-8x7b",
    "qwen2.5-32b", "qwen2.5-3b", "qwen3-235b-a22b", "qwen3-30b-a3b",
]  # fmt: skip


def _bundled_config(model_id: str) -> str:
    return data_path("models", f"{model_id}.json").read_text(encoding="utf-8")


def test_every_calibration_model_id_is_bundled() -> None:
    assert set(CALIBRATION_IDS) <= set(list_model_ids())


def test_every_index_entry_has_a_config_and_every_config_an_entry() -> None:
    files = {p.stem for p in data_path("models").glob("*.json")}
    assert files == set(list_model_ids())


def test_aliases_name_one_model_and_never_shadow_an_id() -> None:
    ids = {i.lower() for i in list_model_ids()}
    seen: dict[str, str] = {}
    for model_id in list_model_ids():
        for alias in model_info(model_id).aliases:
            assert alias.lower() not in ids, alias
            assert seen.setdefault(alias.lower(), model_id) == model_id, alias


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("llama-3.1-8b", "llama-3.1-8b"),
        ("llama3.1-8b", "llama-3.1-8b"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("META-LLAMA/LLAMA-3.1-8B-INSTRUCT", "llama-3.1-8b"),
        ("Llama-3.1-8B", "llama-3.1-8b"),
        ("openai/gpt-oss-120b", "gpt-oss-120b"),
        ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
    ],
)
def test_names_resolve_exact_then_alias(name: str, model_id: str) -> None:
    assert get_model(name).id == model_id
    assert model_info(name).id == model_id


def test_deepseek_r1_is_not_an_alias_of_v3() -> None:
    assert get_model("deepseek-r1").id == "deepseek-r1"
    assert "deepseek-r1" not in {a.lower() for a in model_info("deepseek-v3").aliases}


def test_typo_suggests_close_ids() -> None:
    with pytest.raises(UnknownIdError) as e:
        get_model("llama-3.1-8")
    assert "llama-3.1-8b" in e.value.suggestions
    assert "did you mean" in str(e.value) and "llama-3.1-8b" in str(e.value)


def test_unknown_name_says_how_to_pass_a_config() -> None:
    with pytest.raises(UnknownIdError, match="config.json"):
        get_model("totally-unknown-model")


def test_bundled_specs_are_parsed_once() -> None:
    assert get_model("llama-3.1-8b") is get_model("meta-llama/Llama-3.1-8B")


def test_bundled_spec_carries_index_name_precision_and_source() -> None:
    spec = get_model("deepseek-v3")
    assert spec.name == "DeepSeek-V3" and spec.native_precision == "fp8"
    assert "deepseek-ai/DeepSeek-V3" in spec.source


def test_model_info_rejects_unknown_fields() -> None:
    fields = model_info("llama-3.1-8b").model_dump()
    with pytest.raises(ValidationError):
        ModelInfo(**{**fields, "paramz": 1})


def test_loads_a_folder_holding_config_json(tmp_path: Path) -> None:
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(_bundled_config("llama-3.1-8b"))
    for arg in (folder, str(folder)):
        spec = get_model(arg)
        assert spec.id == "my-llama"
        assert spec.total_params == get_model("llama-3.1-8b").total_params


def test_loads_a_config_file_named_after_the_model(tmp_path: Path) -> None:
    path = tmp_path / "tiny-qwen.json"
    path.write_text(_bundled_config("qwen2.5-3b"))
    assert get_model(str(path)).id == "tiny-qwen"
    assert get_model(path).kv_elems_per_token == get_model("qwen2.5-3b").kv_elems_per_token


def test_a_file_named_config_json_takes_its_folder_name(tmp_path: Path) -> None:
    (tmp_path / "gemma").mkdir()
    path = tmp_path / "gemma" / "config.json"
    path.write_text(_bundled_config("gemma-3-1b"))
    assert get_model(path).id == "gemma"


def test_bad_json_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"model_type": "llama",')
    with pytest.raises(InputError, match="invalid JSON") as e:
        get_model(str(path))
    assert str(path) in str(e.value)


def test_json_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        get_model(path)


def test_missing_file_and_empty_folder_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as e:
        get_model(tmp_path / "nope.json")
    assert "nope.json" in str(e.value)
    with pytest.raises(InputError, match="config.json"):
        get_model(tmp_path)


def test_unsupported_user_config_names_its_model_type(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"model_type": "mamba", "architectures": ["MambaForCausalLM"]}))
    with pytest.raises(UnsupportedModelError, match="mamba"):
        get_model(path)
