"""Find the quantified target statements in a plan's articles.

The plan genre states a target in a few fixed forms, which this module reads:

- ``到2025年 <subject> 达到/控制在/提高到/下降到/不低于/不超过 <value><unit> 以上/以内/左右``;
- a change from a current value: ``<subject>由现状的449公里增加到520公里``;
- a ratio: ``比例由现状的1：1.3调整到1：1.5左右``;
- a range: ``达到55%—60%``;
- counts and quantities with Chinese units (万套, 平方公里, 亿平方米, 公里, 万吨/日, 亿立方米 …);
- counts written in Chinese numerals with a measure word: ``每区至少一所``, ``五区全部建成``,
  ``形成“三种气源、八大通道”``, and the bandwidth classes ``过百兆``/``超千兆``/``达万兆``
  (百兆 = 100 Mbps);
- formula counts: ``7+1个新市镇`` is 8 (the formula stays in ``raw_value``).

Each statement becomes a :class:`Candidate` with a confidence in [0, 1] built from cues: a target
year in the sentence, a comparator word next to the number, a unit, a baseline. A number that
only qualifies a noun (``500米服务半径``, ``8个片区``) scores low; years, article numbers, list
ordinals, line names (``6号线``, ``M101``) and bare sums (``1+1>2``) are not targets. Chinese
numerals are mostly words (一体化, 一批, “三城一区”, 十四五), so a count in Chinese numerals becomes
a candidate only with a cue of its own: a comparator (至少一所), a count per unit (每个乡镇都有一所),
all of them (五区全部), or a verb of creation (形成“三种气源…”).
Nothing here knows about a particular city: the rules are the genre's wording only.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, field

from planwatch.text.articles import Article
from planwatch.text.read import CN_NUMERAL_CHARS, chinese_number, normalise_numbers

NUM = r"\d+(?:\.\d+)?"

# fmt: off
# Units as the plan writes them: an optional multiplier (万, 亿 …) and a base unit, optionally
# per something (万吨/日, 公里/平方公里, 人/万车). Longest first, so 平方公里 wins over 公里.
_BASE_UNITS = sorted(
    [
        "车道公里", "平方公里", "平方千米", "平方米", "立方米", "公里", "千米", "米", "公顷", "亩",
        "吨", "千克", "公斤", "微克", "毫克", "千瓦时", "千瓦", "兆瓦", "元", "人次", "人", "户",
        "套", "间", "个", "处", "座", "所", "家", "张", "条", "辆", "件", "项", "台", "岁", "天",
        "小时", "分钟", "倍", "床", "株", "棵", "标准箱", "架次", "兆帕", "千伏", "兆瓦时",
    ],
    key=len,
    reverse=True,
)
_PER_UNITS = sorted(["日", "天", "年", "小时", "人", "户", "车", "万车", "平方公里", "立方米", "升", "平方米", "万人"], key=len, reverse=True)
# fmt: on
_MULT = r"(?:万|亿|千|百|十)?"
UNIT = (
    r"(?:%|‰|个百分点|"
    + _MULT
    + "(?:"
    + "|".join(map(re.escape, _BASE_UNITS))
    + ")(?:/"
    + _MULT
    + "(?:"
    + "|".join(map(re.escape, _PER_UNITS))
    + "))?)"
)
_UNIT_RE = re.compile(UNIT)

# fmt: off
# Counts in Chinese numerals: the measure words that follow them, each with the compounds in which
# it is no measure word (统一所有 is not 一所, 单一项目 is not 一项). 大 counts what follows it:
# 八大通道 is eight 通道.
_CN_MEASURE_WORDS = {
    "所": "有在属得谓以需述", "个": "性体人", "种": "植子类", "区": "域间别分位块划县", "条": "件例款",
    "座": "谈", "处": "理置于在罚", "项": "目", "家": "庭园具长乡", "批": "准复次示", "张": "力",
    "类": "型似别", "套": "餐用", "台": "风阶", "辆": "", "间": "接隔", "名": "称单义录", "支": "持撑出付",
}
# Measurement units after a Chinese numeral (两万平方米); the multiplier then goes to the unit as
# with Arabic digits (两万平方米 is 2 万平方米, like 2万平方米).
_CN_MEASURE_UNITS = ["平方公里", "平方千米", "平方米", "立方米", "公里", "千米", "公顷", "亩", "吨", "千瓦", "兆瓦"]
# fmt: on
_CN = f"[{CN_NUMERAL_CHARS}]"
_CN_COUNT_UNIT = (
    "(?:(?:万|亿)?(?:"
    + "|".join(_CN_MEASURE_UNITS)
    + ")"
    + "".join(
        f"|{w}(?![{not_after}])" if not_after else f"|{w}" for w, not_after in _CN_MEASURE_WORDS.items()
    )
    + "|大(?=[\u4e00-\u9fff]))"
)
# A run of digits inside a Chinese numeral (三五个: three or five, 一二级) is no single count.
_CN_DIGIT_RUN = re.compile("[一二两三四五六七八九]{2}")

# 一批, 一种, 一类, 一项 say "a number of", "a kind of": no count.
_VAGUE_ONE = {"批", "种", "类", "项"}
_STARTS_WITH_NUMBER = re.compile(rf"^(?:\d|{_CN})")

# The cues that make a count in Chinese numerals a target (without one it is a name, a slogan or
# a count in passing). A count per unit: 每区至少一所, 每个乡镇都有一所, 每个乡镇拥有一所.
_PER_UNIT = re.compile(
    r"每(?:一个|个|一)?[\u4e00-\u9fff]{1,4}?(?:都|均)?(?:至少|拥有|建有|设有|配有|有|建成|设置|配置|配建)$"
)
# All of them: 五区全部建成, 三所均达到 (not 全面, 全市: 全 alone is no cue).
_ALL_OF = re.compile(r"^(?:全部|均|都)")
# A verb of creation before the count (形成“三种气源…”, 建成两所): a weak cue, like 建成 for digits.
_CREATION_VERBS = ("形成", "建成", "新建", "新增", "建设", "打造", "构建", "布局", "实现", "拥有", "完成")
# A count that another count of the same list stands before: 三种气源、八大通道.
_LIST_ITEM_GAP = re.compile(r"^[\u4e00-\u9fff]{1,6}、$")
# 过百兆, 超千兆: "more than", a floor (超过 and 达 are comparator words already); not the 过 of
# 通过, 经过, 不过 or the 超 of 赶超.
_MORE_THAN = re.compile(r"(?:(?<![通经不度路跨越错闯])过|(?<![赶高])超)$")

# One token: a ratio 1:1.5, a range 55%—60%, a formula count 7+1个, a number with its unit, a
# bandwidth class 百兆/千兆/万兆 (兆 as in 兆瓦, 兆帕 is a unit, not bandwidth), or a count in
# Chinese numerals with its measure word (一所, 五区, 三种, 八大).
_TOKEN = re.compile(
    rf"(?<![\d.])(?:(?P<r1>{NUM}):(?P<r2>{NUM})"
    rf"|(?P<lo>{NUM})(?P<lounit>{UNIT})?\s*[—–\-~～]{{1,2}}\s*(?P<hi>{NUM})(?P<hiunit>{UNIT})"
    rf"|(?P<f>\d+(?:\+\d+)+)(?P<funit>{UNIT})"
    rf"|(?P<n>{NUM})(?P<unit>{UNIT})?)(?![\d])"
    rf"|(?<![\d.]|{_CN})(?P<bw>[一二两三四五六七八九十]?[百千万])兆(?![瓦帕伏焦赫吨])"
    rf"|(?<![\d.]|{_CN})(?P<cn>{_CN}+?)(?P<cnunit>{_CN_COUNT_UNIT})"
)

# fmt: off
# Comparator words, tried longest first. A prefix word stands before the number (after
# "人均", "约" and the like), a suffix word right after its unit.
_PREFIX_WORDS: dict[str, str] = {
    **dict.fromkeys(["不低于", "不少于", "超过", "大于", "高于", "至少", "多于", "突破", "不小于"], ">"),
    **dict.fromkeys(
        ["不超过", "不高于", "不大于", "不多于", "低于", "小于", "少于", "控制在", "控制到", "控制为", "压减到", "压减至", "压缩到", "压缩至"],
        "<",
    ),
    **dict.fromkeys(["稳定在", "保持在", "维持在", "约占", "约为", "约达", "约"], "≈"),
    **dict.fromkeys(
        [
            "达到", "提高到", "提高至", "提升到", "提升至", "增加到", "增加至", "增长到", "增长至", "增至",
            "下降到", "下降至", "降低到", "降低至", "降至", "降到", "减到", "减至", "减少到", "减少至",
            "调整到", "调整至", "调整为", "扩大到", "扩大至", "缩小到", "缩减到", "缩减至", "累计达",
            "达", "提高", "提升", "增加", "增长", "下降", "降低", "减少", "降幅", "增幅",
        ],
        "=",
    ),
}
# fmt: on
_WEAK_WORDS = {"为", "占", "是", "新增", "建成", "完成", "供应", "新建", "建设", "实现", "累计"}
_PREFIX_ORDER = sorted(list(_PREFIX_WORDS) + list(_WEAK_WORDS), key=len, reverse=True)
_PREFIX_FILLER = re.compile(r"(?:人均|总计|累计|合计|共计|共|总量|总规模|规模|每年|年均|平均)$")
_SUFFIX = re.compile(r"^(?:以上|以内|以下|左右|上下|之内)")
_SUFFIX_KIND = {"以上": ">", "以内": "<", "以下": "<", "之内": "<", "左右": "≈", "上下": "≈"}

# Words after a number that make it a name or a description, never a quantity.
_NOT_A_QUANTITY_AFTER = re.compile(
    r"^(?:年(?!均)|月|日|号|期|级|星|届|版|代|批|环|强|大[^\d]|路|线|岁以下|G|K)"
)
_BOUNDARY_AFTER = re.compile(r"^(?:$|[，,、。；;：:）)（(”\"’\n]|并|和|及|与|或|等|的目标|的水平)")

_YEAR = re.compile(
    r"(?P<pre>到|至|于|在|由|从|比|较)?(?P<y>(?:19|20)\d\d)年(?P<post>底|末|前|以前|基础上|左右)?"
)
_PERIOD_WORDS = re.compile(r"近期|规划期|实施第二阶段|规划期内|期末|“十[一二三四五六七八九]五”")
_SENTENCE_END = re.compile(r"[。；！？!?;\n]")
_CLAUSE_END = "，,；;：\n。"  # not ":", which normalised ratios use (1:1.5)
_CLAUSE_END_RE = re.compile(f"[{_CLAUSE_END}]")
_PAST = re.compile(r"以来|现状(?!的?\d)|已经|已")  # words of a fact about the past, not a target
_PAST_WORDS = re.compile(r"以来|现状|已")
_SHARE_WORDS = re.compile(r"比重|比例|率|占")
_BASELINE = re.compile(
    rf"(?:由|从)(?:(?:现状|目前|当前|(?P<byear>(?:19|20)\d\d)年)(?:的)?[^\d，。；]{{0,6}}?)?"
    rf"(?P<a>{NUM})(?::(?P<a2>{NUM}))?(?:{UNIT})?[^\d，。；]{{0,10}}?"
    rf"(?:增加|提高|提升|调整|下降|降低|减少|扩大|增长|压减|缩减|缩小|减)(?:到|至|为)[^\d，。；]{{0,4}}$"
)
_REFERENCE_YEAR = re.compile(r"(?:在|比|较|相比|相对)(?P<y>(?:19|20)\d\d)年(?:基础上|的?水平)?")
_LEADING_NOISE = re.compile(
    r"^(?:力争|其中|并且?|同时|努力|全面|基本|确保|(?:总体规划)?实施第[一二三四五六七八九十]阶段|，|、)+"
)
_YEAR_PHRASE = re.compile(r"(?:到|至|在)?(?:19|20)\d\d年(?:底|末|前|以前)?")

# How far each question about a number reads; every one is bounded, so that the work per number
# does not grow with the length of its sentence (the extractor stays linear in the text).
_AFTER_REACH = 8  # the words right after a number: 以上, 左右, 的目标, 岁以下, 全部 are at most 3 characters
_BEFORE_REACH = 12  # 每个乡镇都至少 (a count per unit) is at most 10 characters
_BASELINE_REACH = 200  # 由现状的A…增加到 is about 45 characters besides the digits of A
# A clause (text between two commas) longer than this has lost its punctuation in the OCR: the
# subject and the quote of a number reach at most this many characters to each side of it.
_MAX_CLAUSE = 200


@dataclass
class Candidate:
    """One quantified statement found in an article.

    ``quote`` is verbatim from the source (OCR noise included); ``value``/``unit`` are read from
    the normalised text. ``comparator`` is one of ``<``, ``>``, ``≈``, ``=``, ``range`` (then
    ``value_high`` holds the high end) or ``ratio`` (``1:X``, value holds X). ``baseline`` is
    ``{"year", "value"}`` when the sentence gives a current or reference value.
    """

    article: int
    quote: str
    subject: str
    value: float
    unit: str
    year: int | None
    comparator: str
    baseline: dict | None
    confidence: float
    value_high: float | None = None
    raw_value: str = ""  # the number as the source writes it, e.g. "$7 5 \\%$"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Token:
    start: int  # within the sentence
    end: int
    kind: str  # single | range | ratio
    value: float
    unit: str
    value_high: float | None = None
    first: float | None = None  # first term of a ratio
    written: str = "digits"  # digits | chinese (一所, 百兆) | formula (7+1个)
    note: str = ""  # how a count in Chinese numerals or a formula was read


def _tokens(sentence: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(sentence):
        if m.group("bw") or m.group("cn") or m.group("f"):
            counted = _read_count(m)
            if counted is not None:
                value, unit, written, note = counted
                out.append(_Token(m.start(), m.end(), "single", value, unit, written=written, note=note))
        elif m.group("r1"):
            out.append(
                _Token(m.start(), m.end(), "ratio", float(m.group("r2")), "", first=float(m.group("r1")))
            )
        elif m.group("lo"):
            unit = m.group("hiunit") or m.group("lounit") or ""
            out.append(
                _Token(
                    m.start(), m.end(), "range", float(m.group("lo")), unit, value_high=float(m.group("hi"))
                )
            )
        else:
            out.append(_Token(m.start(), m.end(), "single", float(m.group("n")), m.group("unit") or ""))
    return out


def _read_count(m: re.Match) -> tuple[float, str, str, str] | None:
    """A bandwidth class, a count in Chinese numerals or a formula count: (value, unit, how it is
    written, how it was read), or None for a run of digits such as 三五个 (three or five)."""
    if m.group("bw"):
        value = chinese_number(m.group("bw"))
        return (
            float(value),
            "Mbps",
            "chinese",
            f"{m.group()} read as a bandwidth class of {value} Mbps (兆 = Mbit/s)",
        )
    if m.group("f"):
        value = sum(float(term) for term in m.group("f").split("+"))
        return value, m.group("funit"), "formula", f"formula count {m.group('f')} read as {value:g}"
    value = chinese_number(m.group("cn"))
    if value is None or _CN_DIGIT_RUN.search(m.group("cn")):
        return None
    unit = m.group("cnunit")
    if unit == "大":  # 八大通道: eight 通道
        return float(value), "个", "chinese", f"{m.group()} (N大X: N major X) read as a count of {value}个"
    return float(value), unit, "chinese", f"{m.group()} read as {value}{unit}"


def quantities_in(text: str) -> list[float]:
    """Every number that ``text`` states as a quantity, as the extractor reads it: digits
    (``$7 5 \\%$`` is 75), counts in Chinese numerals with a measure word (``一所`` is 1, ``八大通道``
    is 8), bandwidth classes (``百兆`` is 100), formula counts (``7+1个`` is 8). Years, ordinals
    (``第一批``) and names (``“一张图”``, ``十四五``) are left out. Whether each is a target is not
    asked here."""
    sentence = normalise_numbers(text).text
    tokens = _tokens(sentence)
    if not tokens:
        return []
    s = _Sentence(sentence)
    out: list[float] = []
    for tok in tokens:
        if not _is_excluded(s, tok):
            out.extend(v for v in (tok.value, tok.value_high) if v is not None)
    return out


def _positions(text: str, ch: str) -> list[int]:
    out = []
    i = text.find(ch)
    while i >= 0:
        out.append(i)
        i = text.find(ch, i + 1)
    return out


class _Sentence:
    """One sentence, with what the extractor asks about the text around each number indexed once.

    Each question about a number (the clause it stands in, the nearest target year before it,
    whether it stands inside a title 《…》 or quotes “…”, whether the words before it state a fact
    of the past) is a lookup (bisect) in lists of positions built in one pass over the sentence,
    never a rescan of the text before the number. So the work on a sentence is linear in its
    length however many numbers it holds.
    """

    def __init__(self, text: str, period: tuple[int, int] | None = None):
        self.text = text
        self.clause_ends = [m.start() for m in _CLAUSE_END_RE.finditer(text)]
        self.title_opens, self.title_closes = _positions(text, "《"), _positions(text, "》")
        self.quote_opens, self.quote_closes = _positions(text, "“"), _positions(text, "”")
        self.period_words = bool(_PERIOD_WORDS.search(text))
        # Years that read as a target year (到2025年, 2025年前, a year within the plan period), by end.
        self.target_year_ends: list[int] = []
        self.target_years: list[int] = []
        for m in _YEAR.finditer(text):
            y = _as_target_year(m, text, period)
            if y is not None:
                self.target_year_ends.append(m.end())
                self.target_years.append(y)
        # Reference years (在2015年基础上, 比2020年), by end.
        refs = list(_REFERENCE_YEAR.finditer(text))
        self.reference_ends = [m.end() for m in refs]
        self.reference_starts = [m.start() for m in refs]
        self.reference_years = [int(m.group("y")) for m in refs]
        # Words of a fact about the past (以来, 已, 现状 not followed by a value), by end.
        self.past_ends: list[int] = []
        self.past_starts: list[int] = []
        for m in _PAST_WORDS.finditer(text):
            # 现状 is a fact unless its value follows (现状的449): 4 characters decide it
            if m.group() != "现状" or _PAST.match(text, m.start(), m.start() + 4):
                self.past_ends.append(m.end())
                self.past_starts.append(m.start())
        self._names: dict[int, bool] = {}  # opening quote → it holds a name
        self._first: dict[str, int] = {}  # a word → where it first occurs

    def clause_start(self, pos: int) -> int:
        """Where the clause holding ``pos`` starts: after the last clause end before ``pos``."""
        k = bisect_left(self.clause_ends, pos) - 1
        return self.clause_ends[k] + 1 if k >= 0 else 0

    def clause_end(self, pos: int) -> int:
        """The first clause end at or after ``pos`` (or the end of the sentence)."""
        k = bisect_left(self.clause_ends, pos)
        return self.clause_ends[k] if k < len(self.clause_ends) else len(self.text)

    def target_year(self, pos: int) -> int | None:
        """The target year of a number at ``pos``: the last year before it in its sentence that
        reads as a target (到2025年, 2025年前, or a year within the plan period), not a
        reference (在2015年基础上)."""
        k = bisect_right(self.target_year_ends, pos) - 1
        return self.target_years[k] if k >= 0 else None

    def reference_before(self, floor: int, pos: int) -> tuple[int, int] | None:
        """(where it starts, the year) of the last reference year (在2015年基础上) in
        ``text[floor:pos]``, or None."""
        k = bisect_right(self.reference_ends, pos) - 1
        if k >= 0 and self.reference_starts[k] >= floor:
            return self.reference_starts[k], self.reference_years[k]
        return None

    def past_between(self, floor: int, end: int) -> bool:
        """True if ``text[floor:end]`` holds a word of a fact about the past: 以来, 已, or 现状
        that is not followed by its value (现状的449公里 is a baseline, not a fact)."""
        k = bisect_right(self.past_ends, end) - 1
        if k >= 0 and self.past_starts[k] >= floor:
            return True
        # Within text[floor:end], a 现状 whose value is cut off by ``end`` (…现状的 | 449) reads as
        # a fact too; such a 现状 starts at most 3 characters before ``end``.
        return any(_PAST.match(self.text, p, end) for p in range(max(floor, end - 3), end))

    def inside_title(self, pos: int) -> bool:
        """True if ``pos`` stands inside 《…》 (the title of a law or plan)."""
        return bisect_left(self.title_opens, pos) > bisect_left(self.title_closes, pos)

    def occurs_before(self, word: str, pos: int) -> bool:
        """True if ``word`` occurs in the sentence entirely before ``pos``."""
        if word not in self._first:
            self._first[word] = self.text.find(word)
        first = self._first[word]
        return first >= 0 and first + len(word) <= pos

    def in_a_name(self, tok: _Token) -> bool:
        """True if the count stands inside quotation marks that hold a name (“四个中心”, “一区多园、
        各具特色”), not a list of quantities in which every item starts with a number (“三种气源、
        八大通道、10兆帕大环”)."""
        k = bisect_left(self.quote_opens, tok.start) - 1
        if k < 0:
            return False
        opening = self.quote_opens[k]
        j = bisect_left(self.quote_closes, tok.start) - 1
        if j >= 0 and self.quote_closes[j] > opening:
            return False  # the last quotes before the count are closed
        if opening not in self._names:  # every count inside the same quotes gets the same answer
            c = bisect_left(self.quote_closes, tok.end)
            closing = self.quote_closes[c] if c < len(self.quote_closes) else len(self.text)
            items = self.text[opening + 1 : closing].split("、")
            self._names[opening] = len(items) < 2 or not all(_STARTS_WITH_NUMBER.match(item) for item in items)
        return self._names[opening]


def _as_target_year(m: re.Match, text: str, period: tuple[int, int] | None) -> int | None:
    """The year of a match of ``_YEAR`` if it reads as a target year, else None."""
    pre, post, y = m.group("pre"), m.group("post"), int(m.group("y"))
    if pre in ("比", "较", "由", "从") or post == "基础上" or (pre == "在" and post != "前"):
        return None
    if pre in ("到", "至", "于") or post in ("底", "末", "前", "以前"):
        return y
    if period and period[0] <= y and text[m.end() : m.end() + 1] != "的":
        return y
    return None


def _is_excluded(s: _Sentence, tok: _Token) -> bool:
    """Years, ordinals, names and formula parts are not quantities."""
    before = s.text[max(0, tok.start - 1) : tok.start]  # the character before the number
    after = s.text[tok.end : tok.end + _AFTER_REACH]
    if before in ("第", "每"):
        return True  # 第3条, 每10万人 (a rate's denominator)
    if before.isascii() and before.isalpha():
        return True  # M101, PM2.5, R4
    if after[:1].isascii() and after[:1].isalpha():
        return True  # 5G
    if before in ("+", "＋") or after.startswith(("+", "＋")):
        return True  # 7+1, 3+1, "1+1>2"
    if tok.kind == "single" and not tok.unit:
        if _NOT_A_QUANTITY_AFTER.match(after):
            return True
        if after[:1] in (".", "．", "、", ")", "）"):
            return True  # list ordinals: 1. 2、 (3)
    if s.inside_title(tok.start):
        return True  # inside the title of a law or plan
    if tok.written == "chinese":
        if tok.value == 1 and tok.unit in _VAGUE_ONE:
            return True  # 一批, 一种, 一类, 一项: "a number of", "a kind of", not a count
        if s.in_a_name(tok):
            return True  # “一张图”, “两线三区”, “四个中心”: a name made of numbers
    return False


def _count_cue(
    s: _Sentence, tok: _Token, previous: tuple[_Token, tuple[str, bool, int]] | None
) -> tuple[str, bool, int, str] | None:
    """Why a count in Chinese numerals is a target: (comparator, strong?, where the cue word
    starts, a note), or None when nothing in the sentence says so.

    ``previous`` is the last count of the sentence that had a cue, with that cue: a count listed
    right after it (三种气源、八大通道) shares it.
    """
    sentence = s.text
    start = tok.start
    if start > 0 and sentence[start - 1] in '“"':
        start -= 1  # the cue stands before the opening quote: 形成“三种气源…”
    kind, strong, pos = _prefix_comparator(sentence, start)
    # Both patterns end with $: with endpos=start they read the words that end right at the count.
    per_unit = _PER_UNIT.search(sentence, max(0, start - _BEFORE_REACH), start)
    per_unit_note = (
        f"a count per unit ({per_unit.group()}…): at least {tok.value:g} in each" if per_unit else ""
    )
    if strong:
        return kind, True, pos, per_unit_note
    if per_unit:
        return ">", True, per_unit.start(), per_unit_note
    more_than = _MORE_THAN.search(sentence, max(0, start - 1), start)
    if more_than:
        return ">", True, more_than.start(), ""
    all_of = _ALL_OF.match(sentence[tok.end : tok.end + _AFTER_REACH])
    if all_of:
        return "=", True, tok.start, f"all {tok.value:g} ({sentence[tok.start : tok.end + all_of.end()]})"
    for verb in _CREATION_VERBS:
        if sentence.endswith(verb, 0, start) and tok.value != 1:  # 形成一张网, 实现一条红线: "a single"
            return "=", False, start - len(verb), ""
    if previous is not None:
        prev_tok, (prev_kind, prev_strong, prev_pos) = previous
        # the gap is a few characters and 、 (at most 8 with a line end): never read a long one
        gap = sentence[prev_tok.end : tok.start] if tok.start - prev_tok.end <= 8 else ""
        if _LIST_ITEM_GAP.match(gap):
            return prev_kind, prev_strong, prev_pos, ""
    return None


def _prefix_comparator(sentence: str, start: int) -> tuple[str | None, bool, int]:
    """The comparator word before a number: (kind or None, strong?, index where the word starts)."""
    head = sentence[max(0, start - 14) : start]
    offset = max(0, start - 14)
    for _ in range(2):  # allow a filler between the word and the number: 提高到人均0.67, 达到约50
        m = _PREFIX_FILLER.search(head)
        if m:
            head = head[: m.start()]
    for word in _PREFIX_ORDER:
        if head.endswith(word):
            pos = offset + len(head) - len(word)
            if word in _WEAK_WORDS:
                return "=", False, pos
            return _PREFIX_WORDS[word], True, pos
    return None, False, offset + len(head)


def _subject(s: _Sentence, start: int, verb_start: int, floor: int) -> tuple[str, int, bool]:
    """What is measured: the clause text before the comparator (or before 由现状 …). Returns
    (subject, where it starts, whether it was cut to ``_MAX_CLAUSE`` characters)."""
    cs = max(s.clause_start(start), floor)
    cut = start - cs > _MAX_CLAUSE
    if cut:
        cs = start - _MAX_CLAUSE
    stripped = _clean_subject(s.text[cs:verb_start])
    if not stripped and cs > 0 and not cut:  # "提高装配式建筑…的比重，到2025年达到55%—60%"
        prev = s.clause_start(cs - 1)
        if prev >= floor:
            if cs - 1 - prev > _MAX_CLAUSE:
                prev, cut = cs - 1 - _MAX_CLAUSE, True
            stripped = _clean_subject(s.text[prev : cs - 1])
            cs = prev
    return stripped, cs, cut


def _clean_subject(text: str) -> str:
    text = _YEAR_PHRASE.sub("", text)
    return _LEADING_NOISE.sub("", text.strip("，、 ")).strip("，、 ")


def extract_candidates(articles: list[Article], period: tuple[int, int] | None = None) -> list[Candidate]:
    """Every quantified statement in ``articles``, in text order.

    ``period`` is the plan period (start year, end year), e.g. from
    :attr:`~planwatch.text.articles.ParsedPlan.period`; an undated statement gets the end year
    (noted), and years inside the period count as target years.
    """
    out: list[Candidate] = []
    for article in articles:
        out.extend(_article_candidates(article, period))
    return out


def _article_candidates(article: Article, period: tuple[int, int] | None) -> list[Candidate]:
    norm = normalise_numbers(article.text)
    text = norm.text
    found: list[Candidate] = []
    pos = 0
    for m in list(_SENTENCE_END.finditer(text)) + [None]:
        end = m.end() if m else len(text)
        if end > pos:
            found.extend(_sentence_candidates(article.number, text, pos, end, norm, period))
        pos = end
    return found


def _sentence_candidates(number, text, s0, s1, norm, period) -> list[Candidate]:
    sentence = text[s0:s1]
    tokens = _tokens(sentence)
    if not tokens:
        return []
    s = _Sentence(sentence, period)
    tokens = [t for t in tokens if not _is_excluded(s, t)]
    baselines = _baselines(s, tokens, period)
    consumed = {id(b[1]) for b in baselines.values()}
    out: list[Candidate] = []
    floor = 0  # subjects do not reach back past the previous statement
    previous_count = None  # the last count in Chinese numerals with a cue, and its cue
    for i, tok in enumerate(tokens):
        if id(tok) in consumed:
            continue  # the "from" value of a change: it is the baseline of the next token
        after = sentence[tok.end : tok.end + _AFTER_REACH]
        suffix = _SUFFIX.match(after)
        end = tok.end + (suffix.end() if suffix else 0)
        notes: list[str] = [tok.note] if tok.note else []
        if tok.written == "chinese":
            cue = _count_cue(s, tok, previous_count)
            if cue is None:
                continue  # 三条控制线, “四个中心”, 两个高教园区: a name or a count in passing
            kind, strong, verb_start, cue_note = cue
            previous_count = (tok, (kind, strong, verb_start))
            notes.extend([cue_note] if cue_note else [])
        else:
            kind, strong, verb_start = _prefix_comparator(sentence, tok.start)
        if suffix:
            kind, strong = _SUFFIX_KIND[suffix.group()], True
        if tok.kind == "single" and not tok.unit and not strong:
            continue  # a bare number with no comparator: a name, a count in passing, debris
        baseline = None
        if i in baselines:
            byear, btok, from_pos = baselines[i]
            baseline = {"year": byear, "value": btok.value}
            verb_start = min(verb_start, from_pos)
            if byear is not None and not s.occurs_before(f"{byear}年", btok.start):
                notes.append(f"baseline year not stated; taken as {byear}, the year before the plan period")
        else:
            ref = s.reference_before(floor, tok.start)
            if ref:  # 在2015年基础上下降25%: a reference year without a value
                baseline = {"year": ref[1], "value": None}
                verb_start = min(verb_start, ref[0])

        subject, q_start, cut = _subject(s, tok.start, verb_start, floor)
        if tok.written == "chinese":  # what a count counts follows it, in its own clause
            q_start = max(q_start, s.clause_start(tok.start), floor)
        q_end = end
        # A number followed by a noun qualifies it (500米服务半径). A count in Chinese numerals is
        # always followed by what it counts (一所幼儿园); its cue already says it is a target.
        followed_by_noun = not suffix and not _BOUNDARY_AFTER.match(after)
        modifier = followed_by_noun and tok.written != "chinese"
        if followed_by_noun or (len(subject) <= 1 and sentence[end : end + 1] == "的"):
            # The quote runs to the end of the clause, to show the noun the number qualifies.
            q_end = s.clause_end(end)
            if q_end - end > _MAX_CLAUSE:
                q_end, cut = end + _MAX_CLAUSE, True
            if followed_by_noun:  # the whole clause says what the number is about
                subject = _clean_subject(sentence[q_start:q_end])
            else:  # "将70%以上的新供应产业用地安排在…": what is measured follows the number
                subject = sentence[end + 1 : q_end].strip()

        year = s.target_year(tok.start)
        score = _confidence(tok, strong, kind, year, baseline, modifier, s, floor)
        if year is None and period:
            year = period[1]
            notes.append(f"no target year in the sentence; taken as {year}, the end of the plan period")
        value = tok.value
        if tok.kind == "ratio" and tok.first not in (None, 0, 1):
            value = tok.value / tok.first
            notes.append(f"ratio {tok.first:g}:{tok.value:g} read as 1:{value:g}")
        ocr_notes = _ocr_suspicions(tok, subject, sentence, verb_start)
        notes.extend(ocr_notes)
        if cut:
            notes.append(
                f"the clause runs over {_MAX_CLAUSE} characters without punctuation: "
                f"subject and quote reach at most {_MAX_CLAUSE} characters from the number"
            )

        out.append(
            Candidate(
                article=number,
                quote=norm.raw_slice(s0 + q_start, s0 + q_end).strip().lstrip("，、,").strip(),
                subject=subject,
                value=value,
                unit=tok.unit,
                year=year,
                comparator={"ratio": "ratio", "range": "range"}.get(tok.kind, kind or "="),
                baseline=baseline,
                confidence=round(max(0.0, min(1.0, score - 0.1 * len(ocr_notes))), 2),
                value_high=tok.value_high,
                raw_value=norm.raw_slice(s0 + tok.start, s0 + tok.end).strip(),
                notes=notes,
            )
        )
        if not followed_by_noun:
            floor = end
    return out


def _baselines(s: _Sentence, tokens: list[_Token], period) -> dict[int, tuple[int | None, _Token, int]]:
    """For each token that is the "to" value of a change (由现状的A … 增加到B), the baseline:
    (its year, the token of A, where 由/从 stands). Without a stated year, the baseline is taken
    as the year before the plan period. The change is read in the ``_BASELINE_REACH`` characters
    before B (the pattern ends with $, so endpos makes it end right at B)."""
    out = {}
    starts = [t.start for t in tokens]
    for i, tok in enumerate(tokens):
        m = _BASELINE.search(s.text, max(0, tok.start - _BASELINE_REACH), tok.start)
        if not m:
            continue
        # the last token before B that starts within A
        j = min(bisect_right(starts, m.end("a")), i) - 1
        if j >= 0 and starts[j] >= m.start("a"):
            byear = int(m.group("byear")) if m.group("byear") else (period[0] - 1 if period else None)
            out[i] = (byear, tokens[j], m.start())
    return out


def _confidence(tok, strong, kind, year, baseline, modifier, s: _Sentence, floor) -> float:
    """A score in [0, 1] from the cues of a target statement."""
    if modifier:
        # 500米服务半径, 8个片区, 600平方公里的…: the number qualifies a noun. Sometimes that is a
        # quantified task (10条文化探访路), often a definition or a description: stay below 0.5.
        score = 0.15 + (0.1 if tok.unit else 0.0) + (0.1 if year is not None else 0.0)
    else:
        score = 0.1
        score += 0.15 if tok.unit else 0.0
        score += 0.15 if tok.kind in ("range", "ratio") else 0.0
        score += 0.35 if strong else (0.1 if kind else 0.0)  # 控制在/以内/左右 … or a weak 为/占/建成
        if year is not None:
            score += 0.25
        elif s.period_words:
            score += 0.1
        score += 0.1 if baseline and baseline["value"] is not None else 0.0
    if not baseline and s.past_between(floor, tok.start):
        score -= 0.2  # a fact about the past, not a target
    return score


def _ocr_suspicions(tok: _Token, subject: str, sentence: str, verb_start: int) -> list[str]:
    """Notes on numbers that cannot be right as written (the OCR garbled them)."""
    notes = []
    if tok.kind == "range" and tok.value_high is not None and tok.value > tok.value_high:
        notes.append(
            f"range low end {tok.value:g} is above its high end {tok.value_high:g}: OCR noise likely"
        )
    if tok.unit == "%" and tok.value > 100:
        context = subject + sentence[max(verb_start, tok.start - _MAX_CLAUSE) : tok.start]
        if _SHARE_WORDS.search(context):
            notes.append(
                f"a share of {tok.value:g}% is above 100%: OCR noise likely (a lost decimal point or a stray digit)"
            )
    return notes
