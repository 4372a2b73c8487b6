"""Check a curated plan package against its source text, so that no quoted number drifts from it.

Pure functions: they take the plan and the text and return a list of problems (empty = good).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from planwatch.plan.model import Plan, Target

_WS = re.compile(r"\s+")


def normalise_ws(text: str) -> str:
    """Remove all whitespace (the seed's OCR spreads spaces through numbers and table cells)."""
    return _WS.sub("", text)


def number_forms(value: float) -> list[str]:
    """The ways a number may be written in the text: 2300, 2300.0, 0.39, 1.50 …"""
    forms = {f"{value:g}", repr(value)}
    if float(value).is_integer():
        forms.add(str(int(value)))
    else:
        for digits in (1, 2, 3, 4):
            forms.add(f"{value:.{digits}f}")
    return sorted(forms, key=len)


@dataclass(frozen=True)
class Problem:
    target_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.target_id} {self.field}: {self.message}"


def article_texts(text: str) -> dict[int, str]:
    """Each article's title and text, whitespace removed, from the extractor's parser (one parser
    for articles across planwatch)."""
    from planwatch.text.articles import parse_plan

    return {a.number: normalise_ws(a.title + a.text) for a in parse_plan(text).articles}


def _value_in_quote(target: Target, quote: str) -> list[Problem]:
    problems = []
    numbers = []
    if target.baseline is not None and target.baseline.value is not None:
        numbers.append(("baseline", target.baseline.value, target.baseline.ocr))
    for tv in target.targets:
        if tv.value is not None:
            numbers.append((f"targets[{tv.year}].value", tv.value, tv.ocr))
        if tv.value_high is not None:
            numbers.append((f"targets[{tv.year}].value_high", tv.value_high, tv.ocr))
    for field, value, ocr in numbers:
        if ocr is not None:
            if normalise_ws(ocr.raw) not in quote:
                problems.append(Problem(target.id, field, f"OCR raw form {ocr.raw!r} is not in the quote"))
            continue
        if not any(form in quote for form in number_forms(value)) and not _read_in(value, quote):
            problems.append(Problem(target.id, field, f"value {value:g} does not appear in the quote"))
    return problems


def _read_in(value: float, quote: str) -> bool:
    """True if the extractor reads ``value`` as a quantity of ``quote``: written in Chinese
    numerals (每区至少一所 is 1, 五区 is 5, 百兆 is 100) or as a formula count (7+1个 is 8)."""
    from planwatch.extract.candidates import quantities_in  # one reader of numbers across planwatch

    return any(math.isclose(value, q, rel_tol=1e-9, abs_tol=1e-9) for q in quantities_in(quote))


def check_plan(plan: Plan, text: str) -> list[Problem]:
    """Every quote is in the text (whitespace normalised), every value is in its quote (apart from
    documented OCR corrections), and every article target's quote lies in the article it names."""
    flat = normalise_ws(text)
    articles = article_texts(text)
    problems: list[Problem] = []
    for t in plan.targets:
        quote = normalise_ws(t.quote)
        if not quote:
            problems.append(Problem(t.id, "quote", "empty quote"))
            continue
        if quote not in flat:
            problems.append(Problem(t.id, "quote", "not found in the plan text"))
            continue
        problems.extend(_value_in_quote(t, quote))
        if t.source.article is not None:
            body = articles.get(t.source.article)
            if body is None:
                problems.append(Problem(t.id, "source.article", f"第{t.source.article}条 is not in the text"))
                continue
            # The parser drops Markdown heading marks the OCR put inside sentences ("1：# 1.3").
            bare = quote.replace("#", "")
            if bare not in body:
                where = [n for n, b in articles.items() if bare in b]
                hint = f" (it is in 第{where[0]}条)" if where else ""
                problems.append(Problem(t.id, "source.article", f"quote is not in 第{t.source.article}条{hint}"))
    if plan.ledger is not None:
        problems.extend(_check_ledger_quotes(plan, articles))
    return problems


def _check_ledger_quotes(plan: Plan, articles: dict[int, str]) -> list[Problem]:
    """Every rule of ``ledger.yaml`` that cites an article quotes it verbatim (whitespace normalised)."""
    problems = []
    for name, rule in plan.ledger.cited():
        if rule.article is None:
            continue
        body = articles.get(rule.article)
        if body is None:
            problems.append(Problem(f"ledger.yaml {name}", "article", f"第{rule.article}条 is not in the text"))
        elif normalise_ws(rule.quote) not in body:
            problems.append(Problem(f"ledger.yaml {name}", "quote", f"not in 第{rule.article}条"))
    return problems
