"""Benchmark: plan text → articles and candidate targets, at 1×, 10× and 100× the seed's size.

Load: built from the shipped seed (``plans/beijing-2021-2025/source.md``, 177 articles), under
its title line so that the plan period is read as in the seed. Three shapes of text, each k
times the seed's articles (k = 1, 10, 100):

* ``articles`` — k copies of the 177 articles, renumbered 第1条 … 第(177k)条: a long plan;
* ``one article`` — one 第1条 holding the text of all articles, k times over: a long article;
* ``one sentence`` — the same, with every sentence end (。；！？ and the line ends) made a comma:
  one article that is one sentence, the worst case for reading the text before each number
  (the old extractor rescanned the sentence for every number: quadratic).

What is timed is what ``run_extract`` does to a text, in this process: ``parse_plan`` then
``extract_candidates`` (reading the file and writing the JSON are left out). Each size is timed
``--repeat`` times (the best is kept; once at 100×). The growth exponent of each shape is the slope
of log(time) against log(characters), fitted by least squares over the sizes: 1 is linear, 2 is
quadratic.

Checked every run: k copies of the articles give exactly k times the candidates of one copy, and
one copy gives as many as the seed itself.

Run: ``.venv/bin/python bench/extract.py [--scales 1 10 100] [--shapes articles,one-article,one-sentence]
[--repeat 3]``
"""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

from planwatch.extract import extract_candidates, parse_plan, read_plan_text

SEED = Path(__file__).resolve().parents[1] / "src/planwatch/plans/beijing-2021-2025/source.md"
_SENTENCE_ENDS = re.compile(r"[。；！？!?;\n]")


def build_text(seed, shape: str, k: int) -> str:
    """``k`` times the seed's articles in the given shape, under the seed's title."""
    parts = [f"# {seed.title}\n"]
    if shape == "articles":
        n = 0
        for _ in range(k):
            for a in seed.articles:
                n += 1
                parts.append(f"第{n}条　{a.title}\n{a.text}\n")
        return "".join(parts)
    body = "\n".join(a.text for a in seed.articles) + "\n"
    if shape == "one-sentence":
        body = _SENTENCE_ENDS.sub("，", body)
    parts.append("第1条　总体要求\n")
    parts.extend([body] * k)
    return "".join(parts)


def extract(text: str) -> tuple[float, int, int]:
    """Seconds to parse ``text`` and extract its candidates, the articles and the candidates."""
    t0 = time.perf_counter()
    parsed = parse_plan(text)
    candidates = extract_candidates(parsed.articles, period=parsed.period)
    return time.perf_counter() - t0, len(parsed.articles), len(candidates)


def growth_exponent(sizes: list[int], times: list[float]) -> float:
    """The least-squares slope of log(time) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--shapes", default="articles,one-article,one-sentence")
    ap.add_argument("--repeat", type=int, default=3, help="timings per size below 100× (the best is kept)")
    a = ap.parse_args()

    seed_text = read_plan_text(SEED)
    seed = parse_plan(seed_text, name=str(SEED))
    _, seed_articles, seed_candidates = extract(seed_text)
    print(f"seed: {len(seed_text):,} characters, {seed_articles} articles, {seed_candidates} candidates")

    exponents = {}
    for shape in a.shapes.split(","):
        sizes, times, found = [], [], []
        for k in a.scales:
            text = build_text(seed, shape, k)
            runs = [extract(text) for _ in range(a.repeat if k < 100 else 1)]
            t, n_articles, n_candidates = min(runs)
            sizes.append(len(text))
            times.append(t)
            found.append(n_candidates)
            print(f"{shape:13s} {k:4d}× {len(text):12,} chars {n_articles:7,} articles {n_candidates:7,} candidates "
                  f"{t:9.3f} s  {len(text) / t / 1e6:6.2f} M chars/s")
        if shape == "articles":
            per_copy = found[0] // a.scales[0]
            same = all(f == per_copy * k for f, k in zip(found, a.scales, strict=True))
            print(f"  k copies give k × {per_copy} candidates: {'yes' if same else 'NO: ' + str(found)}; "
                  f"the seed itself gives {seed_candidates}")
        exponents[shape] = growth_exponent(sizes, times)
        print(f"  growth exponent (slope of log time vs log size): {exponents[shape]:.2f}")
    print("growth exponents: " + ", ".join(f"{s} {e:.2f}" for s, e in exponents.items()) + " (1 = linear, 2 = quadratic)")


if __name__ == "__main__":
    main()
