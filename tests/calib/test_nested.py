"""Saved held-out predictions (calib/nested.py save_cv / load_cv)."""

from types import SimpleNamespace

import numpy as np
import pytest

from inferplan.calib.nested import CVResult, load_cv, save_cv
from inferplan.errors import InputError


def _rows(*ids):
    return [SimpleNamespace(origin="a.csv", source="src", id=i) for i in ids]


def test_saved_predictions_come_back_in_the_order_of_the_rows_asked_for(tmp_path):
    path = tmp_path / "loso.json"
    save_cv(path, _rows("r1", "r2", "r3"), CVResult(np.array([1.5, np.nan, 3.0]), "method m"))
    back = load_cv(path, _rows("r3", "r1", "r2"))
    assert back.method == "method m"
    assert back.pred[:2].tolist() == [3.0, 1.5] and np.isnan(back.pred[2])


def test_a_row_missing_from_the_saved_predictions_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "loso.json"
    save_cv(path, _rows("r1"), CVResult(np.array([1.0]), "m"))
    with pytest.raises(InputError, match=r"1 rows missing, e\.g\. a\.csv\|src\|r2"):
        load_cv(path, _rows("r1", "r2"))


def test_an_unreadable_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_cv(tmp_path / "absent.json", _rows("r1"))
