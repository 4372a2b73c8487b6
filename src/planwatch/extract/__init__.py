"""Plan text → articles and candidate targets (capability 2).

- :func:`read_plan_text` reads a plan document (UTF-8 or GB18030) or refuses it clearly;
- :func:`parse_plan` splits it into chapters, sections and articles 第N条;
- :func:`extract_candidates` finds the quantified target statements in the articles;
- :func:`compare_with_plan` checks them against a curated plan package;
- :func:`run_extract` does all of it and returns what ``planwatch extract`` prints.
"""

from __future__ import annotations

from pathlib import Path

from planwatch.extract.candidates import Candidate, extract_candidates
from planwatch.extract.compare import compare_with_plan
from planwatch.text.articles import Article, Heading, ParsedPlan, parse_plan
from planwatch.text.read import PlanTextError, normalise_numbers, read_plan_text

__all__ = [
    "Article",
    "Candidate",
    "Heading",
    "ParsedPlan",
    "PlanTextError",
    "compare_with_plan",
    "extract_candidates",
    "normalise_numbers",
    "parse_plan",
    "read_plan_text",
    "run_extract",
]


def run_extract(
    path: str | Path, compare: str | None = None, min_confidence: float = 0.5, strict: bool = False
) -> dict:
    """Read the plan document at ``path`` and return ``{"articles": [...], "candidates": [...],
    "warnings": [...]}``.

    ``warnings`` name, line by line, what is wrong with the article structure: an article number
    out of order, duplicated or missing (such articles are kept, each as its own article, in the
    order they appear), or an article with no text. With ``strict``, any warning is an error
    instead: :class:`PlanTextError` listing them all.

    With ``compare`` (a plan id such as ``"beijing-2021-2025"``, or a package folder), the dict
    also has ``"comparison"``: curated targets found and missed, unmatched candidates, counts,
    recall and precision (see :func:`compare_with_plan`). Everything in the dict is JSON-able.
    Raises :class:`PlanTextError` for an unreadable file or one without 第N条 articles, and
    :class:`~planwatch.plan.PlanPackageError` for an unknown or invalid plan package.
    """
    text = read_plan_text(path)
    parsed = parse_plan(text, name=str(path))
    if strict and parsed.warnings:
        n = len(parsed.warnings)
        raise PlanTextError(
            f"{path}: refused in strict mode, {n} problem{'s' if n > 1 else ''} in the article structure:\n  "
            + "\n  ".join(parsed.warnings)
        )
    candidates = extract_candidates(parsed.articles, period=parsed.period)
    result: dict = {
        "articles": [a.to_dict() for a in parsed.articles],
        "candidates": [c.to_dict() for c in candidates],
        "warnings": list(parsed.warnings),
    }
    if compare is not None:
        from planwatch.plan import load_plan  # the plan package is only needed to compare

        result["comparison"] = compare_with_plan(
            candidates, load_plan(compare), min_confidence=min_confidence
        )
    return result
