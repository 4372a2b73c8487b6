"""Units: spellings that mean the same unit, and the conversions planwatch knows.

Pure data and functions. A unit belongs to a dimension with a factor to that dimension's base
unit; converting is ``value * factor_from / factor_to``. Units not listed convert only to
themselves (after alias folding), so an unknown unit is never silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

# spelling -> canonical spelling (the plan's own wording where it has one)
ALIASES: dict[str, str] = {
    "km": "公里", "千米": "公里", "m": "米",
    "km²": "平方公里", "km2": "平方公里", "sq km": "平方公里",
    "m²": "平方米", "m2": "平方米", "㎡": "平方米",
    "ha": "公顷", "hm²": "公顷", "hm2": "公顷",
    "mu": "亩",
    "μg/m³": "微克/立方米", "µg/m³": "微克/立方米", "ug/m3": "微克/立方米", "μg/m3": "微克/立方米",
    "m³": "立方米", "m3": "立方米",
    "persons": "人", "people": "人", "10k persons": "万人",
    "years": "年", "year": "年",
    "percent": "%", "％": "%", "pct": "%",
    "fraction": "小数", "share": "小数", "ratio": "小数",
    "km/km²": "公里/平方公里", "km/km2": "公里/平方公里",
}


@dataclass(frozen=True)
class Unit:
    dimension: str
    factor: float  # multiply a value in this unit by factor to get the dimension's base unit


UNITS: dict[str, Unit] = {
    # people (base: 人)
    "人": Unit("people", 1.0), "万人": Unit("people", 1e4), "亿人": Unit("people", 1e8),
    # visits (base: 人次)
    "人次": Unit("visits", 1.0), "万人次": Unit("visits", 1e4),
    # area (base: 平方米); 1 亩 = 10000/15 m²
    "平方米": Unit("area", 1.0), "公顷": Unit("area", 1e4), "平方公里": Unit("area", 1e6),
    "亩": Unit("area", 1e4 / 15), "万亩": Unit("area", 1e8 / 15), "万平方米": Unit("area", 1e4),
    "亿平方米": Unit("area", 1e8),
    # length (base: 米)
    "米": Unit("length", 1.0), "公里": Unit("length", 1e3),
    # shares (base: %)
    "%": Unit("share", 1.0), "小数": Unit("share", 100.0),
    # volume (base: 立方米)
    "立方米": Unit("volume", 1.0), "万立方米": Unit("volume", 1e4), "亿立方米": Unit("volume", 1e8),
}


class UnitError(ValueError):
    pass


def canonical(unit: str) -> str:
    u = (unit or "").strip()
    return ALIASES.get(u, ALIASES.get(u.lower(), u))


def convert(value: float, from_unit: str, to_unit: str) -> tuple[float, str]:
    """Convert ``value`` from ``from_unit`` to ``to_unit``.

    Returns the converted value and a note of the conversion ("" when the units are the same
    after folding spellings). Raises :class:`UnitError` when no conversion is known.
    """
    a, b = canonical(from_unit), canonical(to_unit)
    if a == b:
        note = "" if from_unit.strip() == to_unit.strip() else f"单位写法 {from_unit.strip()} 视同 {to_unit}"
        return value, note
    ua, ub = UNITS.get(a), UNITS.get(b)
    if ua is None or ub is None or ua.dimension != ub.dimension:
        raise UnitError(f"unit {from_unit!r} cannot be converted to the indicator's unit {to_unit!r}")
    factor = ua.factor / ub.factor
    converted = value * factor
    return converted, f"{value:g}{a} → {converted:g}{b} (×{factor:g})"
