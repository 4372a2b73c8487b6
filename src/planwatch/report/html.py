"""Render a :class:`ReportContext` to one self-contained HTML page (inline CSS, inline SVG charts, the
map as an inline PNG).

The same HTML is what the browser shows and what WeasyPrint prints, so the two never diverge; the
DOCX is written from the same view (:mod:`planwatch.report.view`). No wall-clock time goes into it:
the same context renders to the same bytes.
"""

from __future__ import annotations

import base64
import re
from importlib import resources

import jinja2

from planwatch.report.charts import FONT_STACK, format_number, legend_svg
from planwatch.report.context import ReportContext
from planwatch.report.view import build_view

_URL = re.compile(r"[，,]?\s*https?://\S+")


def urls(text: str) -> list[str]:
    """The web addresses in a citation."""
    return re.findall(r"https?://\S+", text or "")


def strip_urls(text: str) -> str:
    """A citation without its web address (for compact tables; the sources page keeps it)."""
    return _URL.sub("", text or "").strip()


def _env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(resources.files("planwatch.report") / "templates"))
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_number
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    env.filters["nourl"] = strip_urls
    env.filters["urls"] = urls
    return env


def render_html(ctx: ReportContext) -> str:
    """The whole report as one HTML string (UTF-8, self-contained)."""
    ctx.check()
    view = build_view(ctx, charts="svg")
    return _env().get_template("report.html.j2").render(**view, font_stack=FONT_STACK, legend_svg=legend_svg())
