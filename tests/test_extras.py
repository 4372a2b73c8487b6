"""Optional parts stay optional: without an extra, the verb that needs it says which extra to install."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from planwatch.cli import app
from planwatch.extras import EXTRAS, MissingExtraError, require
from planwatch.onemap.review.base import ENGINE_EXTRAS, get_engine
from tests.conftest import refused
from tests.test_review_features import _store_with_map, layer  # noqa: F401  (fixtures)


def _without(monkeypatch, extra: str) -> None:
    """As if ``extra`` were not installed: importing its modules fails."""
    for name in EXTRAS[extra]:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError


def test_every_optional_engine_names_its_extra():
    assert set(ENGINE_EXTRAS) == {"postgis", "dask", "duckdb"}
    assert set(ENGINE_EXTRAS.values()) <= set(EXTRAS)


@pytest.mark.parametrize(("engine", "extra"), sorted(ENGINE_EXTRAS.items()))
def test_an_engine_without_its_extra_says_which_to_install(monkeypatch, engine, extra):
    _without(monkeypatch, extra)
    with pytest.raises(MissingExtraError, match=rf"pip install 'planwatch\[{extra}\]'"):
        get_engine(engine)


def test_require_returns_the_modules_when_installed():
    assert [m.__name__ for m in require("scale", "a test")] == ["dask", "dask_geopandas", "distributed"]


def test_the_review_verb_without_the_scale_extra_says_so_without_a_traceback(monkeypatch, tmp_path):
    from tests.test_review_features import project as project_fixture

    db = _store_with_map(tmp_path, synthetic=False)
    src = tmp_path / "parcels.gpkg"
    project_fixture.__wrapped__().to_file(src)
    _without(monkeypatch, "scale")
    res = CliRunner().invoke(app, ["review", str(src), "--out", str(tmp_path / "r.gpkg"), "--db", str(db),
                                   "--engine", "dask"])
    refused(res, "the dask review engine needs the optional part 'scale'", "pip install 'planwatch[scale]'")
    assert not (tmp_path / "r.gpkg").exists()
