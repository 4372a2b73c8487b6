"""Extraction: a plan text parsed into articles and candidate quantified targets, optionally compared
with a curated plan package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planwatch.services import ServiceError, jsonable


@dataclass(frozen=True)
class Extraction:
    """``articles`` and ``candidates`` (dicts), ``warnings`` (problems in the article structure, line
    by line) and, when compared with a package, ``comparison`` (found, missed, unmatched, counts,
    recall, precision)."""

    articles: list[dict]
    candidates: list[dict]
    warnings: list[str]
    comparison: dict | None

    def to_records(self) -> dict:
        out = {"articles": self.articles, "candidates": self.candidates, "warnings": self.warnings}
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return jsonable(out)


def extract(path: Path, *, compare: str | None = None, strict: bool = False) -> Extraction:
    """Parse the plan text at ``path`` into articles and candidate quantified targets (``extract``);
    ``compare``: a plan package to compare the candidates with; ``strict``: refuse a text whose
    article numbers are out of order, duplicated or missing, or with an article without text."""
    from planwatch.extract import run_extract
    from planwatch.plan import PlanPackageError
    from planwatch.text.read import PlanTextError

    try:
        result = run_extract(path, compare=compare, strict=strict)
    except (PlanTextError, PlanPackageError) as e:
        raise ServiceError(str(e)) from None
    return Extraction(result["articles"], result["candidates"], result["warnings"], result.get("comparison"))


__all__ = ["Extraction", "extract"]
