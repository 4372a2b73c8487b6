"""Quota amounts: read from what a user typed, kept as whole numbers of the quota's smallest step
(0.01 m² when a quota allows 2 decimals), written back in the unit. Pure."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from planwatch.ledger.rules import Quota

# The largest amount any verb takes, in a quota's unit: 10¹² m² is 60 times the area of Beijing; anything
# larger is a typing mistake (and would not fit the store's 64-bit integers at 0.01 m²).
MAX_AMOUNT = Decimal(10) ** 12


class AmountError(ValueError):
    """An amount that cannot be posted: the message names the option, the value and why."""


def parse_amount(text, quota: Quota, option: str = "--amount", *, allow_zero: bool = False) -> int:
    """``text`` (a str or number, in the quota's unit) as a whole number of the quota's smallest step.

    Refused with :class:`AmountError`: not a number, not finite, zero or negative (zero allowed with
    ``allow_zero``), or more decimals than the quota allows."""
    shown = str(text).strip()
    if any(c in shown for c in ",_，"):  # 1,5 could be 15 or 1.5: refused, never guessed
        raise AmountError(f"{option} {shown[:40]!r}: write the amount without separators (e.g. 1500000.5)")
    if not shown.isascii():
        raise AmountError(f"{option} {shown[:40]!r}: write the amount in ASCII digits (e.g. 1500000.5)")
    try:
        value = Decimal(shown) if not isinstance(text, float) else Decimal(repr(text))
    except (InvalidOperation, ValueError):
        raise AmountError(f"{option} {shown[:40]!r}: not a number (give the amount in {quota.unit}, e.g. 1500.5)") from None
    if not value.is_finite():
        raise AmountError(f"{option} {shown[:40]!r}: not a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise AmountError(f"{option} {shown[:40]}: must be greater than zero")
    if value > MAX_AMOUNT:
        raise AmountError(f"{option} {shown[:40]}: more than {MAX_AMOUNT:,.0f} {quota.unit}; check the amount")
    scaled = value.scaleb(quota.decimals)
    if scaled != scaled.to_integral_value():
        raise AmountError(f"{option} {shown[:40]}: {quota.name} is kept to {quota.decimals} decimal(s) of {quota.unit}; "
                          f"give at most {quota.decimals} decimal(s)")
    return int(scaled)


def to_unit(minor: int, quota: Quota) -> float:
    """A whole number of steps as a number in the quota's unit (what JSON shows)."""
    return float(Decimal(int(minor)).scaleb(-quota.decimals))


def fmt(minor: int, quota: Quota, *, unit: bool = True) -> str:
    """A whole number of steps as text in the unit, with thousands separators: ``1,500,000.00 m²``."""
    value = Decimal(int(minor)).scaleb(-quota.decimals)
    text = f"{value:,.{quota.decimals}f}"
    return f"{text} {quota.unit}" if unit else text


def from_unit(value: float, quota: Quota) -> int:
    """A number in the unit (a rule's limit, a schedule amount) as whole steps, rounded half up."""
    return int(Decimal(repr(float(value))).scaleb(quota.decimals).to_integral_value(rounding="ROUND_HALF_UP"))


__all__ = ["MAX_AMOUNT", "AmountError", "fmt", "from_unit", "parse_amount", "to_unit"]
