from __future__ import annotations

from pathlib import Path

import pytest

from planwatch.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REAL_OBSERVATIONS = ROOT / "src/planwatch/plans/beijing-2021-2025/observations/observations_2021_2022.csv"


@pytest.fixture(scope="session")
def plan():
    return load_plan()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store.gpkg"


@pytest.fixture
def store(db):
    from planwatch.store import open_store

    return open_store(db)


def write_csv(path: Path, rows: list[str], header: str = "indicator,year,value,unit,geo,scope,note,source") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def said(res) -> str:
    """What a CLI run printed, on stdout and stderr."""
    return res.output + (res.stderr if res.stderr_bytes else "")


def refused(res, *words) -> str:
    """The run was refused the way planwatch refuses: exit 1, one message with ``words``, no traceback."""
    text = said(res)
    assert res.exit_code == 1, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in text
    for w in words:
        assert w in text, (w, text)
    return text
