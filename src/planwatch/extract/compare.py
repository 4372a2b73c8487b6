"""Compare extracted candidates with a curated plan package: what was found, missed, or is new.

A curated article target (id ``A…``) is *found* when a candidate in the same article carries one
of its target values (numbers compared to 1e-9), or when the candidate's quote holds the raw OCR
form that the curator corrected (``ocr.raw``, e.g. ``$1 5 5 \\%$`` read as 55). Qualitative
targets (no number: 达到国家要求, 全覆盖 …) cannot be matched by value; they are listed apart and
left out of recall. A candidate with no curated counterpart in its article is *unmatched*; if a
row of the appendix table has the same value and unit, that row is named as a hint.

Recall = found / numeric curated article targets. Precision = candidates with confidence ≥
``min_confidence`` that match a curated article target / all candidates with that confidence.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

from planwatch.extract.candidates import Candidate
from planwatch.plan.model import Plan, Target

_WS = re.compile(r"\s+")


def _values(target: Target) -> list[float]:
    out: list[float] = []
    for tv in target.targets:
        for v in (tv.value, tv.value_high):
            if v is not None:
                out.append(float(v))
    return out


def _same(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def match_kind(candidate: Candidate, target: Target) -> str | None:
    """How ``candidate`` matches ``target``: ``"value"``, ``"ocr"`` (via the curator's OCR
    correction) or None. The article must be the same."""
    if candidate.article != target.source.article:
        return None
    values = _values(target)
    if any(_same(candidate.value, v) or _same(candidate.value_high, v) for v in values):
        return "value"
    quote = _WS.sub("", candidate.quote)
    for tv in target.targets:
        if tv.ocr is not None and _WS.sub("", tv.ocr.raw) and _WS.sub("", tv.ocr.raw) in quote:
            return "ocr"
    return None


def _target_summary(t: Target) -> dict:
    return {
        "id": t.id,
        "article": t.source.article,
        "name": t.name,
        "unit": t.unit,
        "values": [
            {"year": tv.year, "kind": tv.kind.value, "value": tv.value, "value_high": tv.value_high}
            for tv in t.targets
        ],
        "quote": t.quote,
    }


def compare_with_plan(candidates: list[Candidate], plan: Plan, min_confidence: float = 0.5) -> dict:
    """Found / missed curated article targets and unmatched candidates, with recall and precision.

    Returns a JSON-able dict: ``counts``, ``recall``, ``recall_confident`` (found by a candidate
    with confidence ≥ ``min_confidence``), ``precision``, and the lists ``found``, ``missed``,
    ``unmatched`` and ``qualitative`` (curated targets with no number, not counted).
    """
    article_targets = [t for t in plan.targets if t.id.startswith("A")]
    numeric = [t for t in article_targets if _values(t)]
    qualitative = [t for t in article_targets if not _values(t)]
    table_targets = [t for t in plan.targets if t.id.startswith("T")]

    by_article: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(candidates):
        by_article[c.article].append(i)

    matched: dict[int, list[str]] = defaultdict(list)
    found, missed = [], []
    found_confident = 0
    for t in numeric:
        hits = [
            (i, kind) for i in by_article.get(t.source.article, []) if (kind := match_kind(candidates[i], t))
        ]
        if not hits:
            missed.append(_target_summary(t))
            continue
        for i, _ in hits:
            matched[i].append(t.id)
        best, how = max(hits, key=lambda h: candidates[h[0]].confidence)
        if candidates[best].confidence >= min_confidence:
            found_confident += 1
        entry = _target_summary(t)
        entry["via"] = how
        entry["unit_agrees"] = candidates[best].unit == t.unit
        entry["candidate"] = {
            "quote": candidates[best].quote,
            "value": candidates[best].value,
            "unit": candidates[best].unit,
            "confidence": candidates[best].confidence,
        }
        found.append(entry)

    unmatched = []
    for i, c in enumerate(candidates):
        if i in matched:
            continue
        row = c.to_dict()
        row["table_counterparts"] = [
            t.id for t in table_targets if t.unit == c.unit and any(_same(c.value, v) for v in _values(t))
        ]
        unmatched.append(row)
    unmatched.sort(key=lambda r: (-r["confidence"], r["article"]))

    confident = [i for i, c in enumerate(candidates) if c.confidence >= min_confidence]
    confident_matched = [i for i in confident if i in matched]
    n = len(numeric)
    return {
        "plan": plan.meta.id,
        "min_confidence": min_confidence,
        "counts": {
            "curated_article_targets": len(article_targets),
            "numeric": n,
            "qualitative": len(qualitative),
            "found": len(found),
            "found_confident": found_confident,
            "missed": len(missed),
            "candidates": len(candidates),
            "candidates_confident": len(confident),
            "confident_matched": len(confident_matched),
            "unmatched": len(unmatched),
        },
        "recall": round(len(found) / n, 4) if n else None,
        "recall_confident": round(found_confident / n, 4) if n else None,
        "precision": round(len(confident_matched) / len(confident), 4) if confident else None,
        "found": found,
        "missed": missed,
        "unmatched": unmatched,
        "qualitative": [_target_summary(t) for t in qualitative],
    }
