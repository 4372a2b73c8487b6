"""The demo's one evidence file: a small PDF that says, on its face, that it is illustrative (示意), so
the demo can play a finding's whole cycle (交办 → 整改完成 → 销号) without pretending to a real
rectification. The same arguments print the same bytes."""

from __future__ import annotations

from html import escape
from pathlib import Path

from planwatch.report.pdf import write_pdf


def write_illustrative_evidence(path: Path, *, code: str, title: str, unit: str) -> Path:
    """Write a one-page PDF at ``path``: an illustrative rectification note for finding ``code``
    (``title``) by ``unit``, marked 示意 in its title and on every line that could be mistaken for fact."""
    html = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>示意整改佐证材料</title>
<style>@page {{ size: A5; margin: 18mm; }} body {{ font-family: "Noto Sans CJK SC", sans-serif; font-size: 11pt; }}
h1 {{ font-size: 15pt; }} .mark {{ color: #c62828; font-weight: bold; }}</style></head><body>
<p class="mark">示意（演示用，非真实文件）</p>
<h1>整改佐证材料（示意）</h1>
<p>问题编号：{escape(code)}</p>
<p>问题：{escape(title)}</p>
<p>责任单位：{escape(unit)}（示意）</p>
<p>本文件由 planwatch 演示程序生成，用于演示问题清单“交办—整改—销号”流程，不代表任何单位的真实整改情况。</p>
</body></html>"""
    return write_pdf(html, Path(path))
