"""errors.py: the one formatter of pydantic validation errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator

from inferplan.errors import validation_summary


class _Inner(BaseModel):
    max_num_seqs: int = Field(ge=1)


class _Outer(BaseModel):
    a: int = Field(ge=0)
    b: int = Field(ge=0)
    c: int = Field(ge=0)
    d: int = Field(ge=0)
    inner: _Inner | None = None

    @model_validator(mode="after")
    def _whole(self) -> _Outer:
        if self.a == 7:
            raise ValueError("a may not be 7")
        return self


def _error(**kw) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        _Outer(**kw)
    return e.value


def test_locations_are_dotted_and_extra_errors_are_counted():
    e = _error(a=-1, b=-1, c=-1, d=-1)
    text = validation_summary(e)
    assert text.startswith("a: Input should be greater than or equal to 0; b: ")
    assert text.endswith("(+1 more)") and "\n" not in text


def test_flags_spell_locations_as_cli_options_and_prefix_leads_every_path():
    e = _error(a=0, b=0, c=0, d=0, inner={"max_num_seqs": 0})
    assert validation_summary(e, flags=True).startswith("--inner-max-num-seqs: Input should be")
    assert validation_summary(e, prefix="params").startswith("params.inner.max_num_seqs: ")


def test_an_error_of_the_whole_entry_is_its_message_alone():
    assert validation_summary(_error(a=7, b=0, c=0, d=0)) == "Value error, a may not be 7"
