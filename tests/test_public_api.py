"""The public API of `import inferplan`: every name in __all__ resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import inferplan


def test_every_public_name_resolves():
    for name in inferplan.__all__:
        assert getattr(inferplan, name) is not None, name
    assert callable(inferplan.estimate) and callable(inferplan.simulate)
    assert callable(inferplan.plan_serving) and callable(inferplan.compare_hardware)


def test_import_inferplan_loads_no_heavy_module():
    code = ("import sys, inferplan; heavy = [m for m in ('numpy', 'pydantic', 'scipy', 'typer', "
            "'inferplan.perf', 'inferplan.sim') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        inferplan.no_such_thing  # noqa: B018


def test_the_package_is_typed():
    from importlib import resources

    assert resources.files("inferplan").joinpath("py.typed").is_file()
