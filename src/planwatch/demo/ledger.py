"""The demo's year of quota ledger operations (流量池, 减量, 增减挂钩, 拆占比): every batch illustrative (示意).

One deterministic script of operations with effective dates across the year (:data:`SCRIPT`), posted
through the ledger's services as a bureau would post them, so that the year's check-up report has a
指标流量池与用地台账 section to show:

- releases from the year's (illustrative) release plan to districts outside the central city, each
  within the (illustrative) per-district annual cap;
- reductions credited (增减挂钩) in central-city districts, which under 动态零增长 (第28条) can hold
  floor-area quota only as far as they demolish, and in two others; land reductions too;
- reservations and commitments (in full and in part), a cancellation, a transfer between pools, a
  reservation left to expire (``expire`` as of 31 December);
- exactly one refused over-reservation (more than the pool has): the refusal's message is kept, and
  nothing is written for it.

Every actor is named 示意用户：… (演示) and every memo says 示意, except the expiry's, which the ledger
writes itself (the batch is flagged illustrative all the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planwatch.services import ServiceError
from planwatch.services import ledger as L

CITY = "示意用户：市规划自然资源委（演示）"
KEY = "demo-ledger-{year}-{n:02d}"


def bureau(district: str) -> str:
    """The illustrative district bureau posting a district's operations: 朝阳区 → …朝阳分局."""
    return f"示意用户：市规划自然资源委{district.removesuffix('区')}分局（演示）"


# (MM-DD, operation, its arguments). Amounts in m²; the release year is the demo's year. Projects are
# named 示意-… so that no id can be mistaken for a real project.
SCRIPT: list[tuple[str, str, dict]] = [
    ("01-18", "release", {"pool": "floor_area:通州区", "amount": 1_500_000}),
    ("01-18", "release", {"pool": "floor_area:顺义区", "amount": 1_200_000}),
    ("02-15", "release", {"pool": "floor_area:大兴区", "amount": 1_000_000}),
    ("02-15", "release", {"pool": "floor_area:昌平区", "amount": 800_000}),
    ("02-28", "release", {"pool": "land:大兴区", "amount": 1_000_000}),
    ("02-28", "release", {"pool": "land:通州区", "amount": 800_000}),
    ("02-28", "release", {"pool": "land:房山区", "amount": 600_000}),
    ("03-10", "credit_reduction", {"pool": "floor_area:朝阳区", "demolished": 300_000, "ratio": 1.5,
                                   "ref": "示意-朝阳-腾退地块A"}),
    ("03-10", "credit_reduction", {"pool": "floor_area:海淀区", "demolished": 240_000, "ratio": 2,
                                   "ref": "示意-海淀-腾退地块B"}),
    ("03-31", "credit_reduction", {"pool": "land:朝阳区", "demolished": 400_000, "ratio": 2,
                                   "ref": "示意-朝阳-腾退地块A"}),
    ("04-08", "credit_reduction", {"pool": "floor_area:房山区", "demolished": 150_000, "ratio": 1,
                                   "ref": "示意-房山-腾退地块C"}),
    ("04-20", "reserve", {"project": "示意-通州-文化设施", "pool": "floor_area:通州区", "amount": 600_000}),
    ("04-28", "reserve", {"project": "示意-大兴-产业用地", "pool": "land:大兴区", "amount": 400_000}),
    ("05-10", "reserve", {"project": "示意-顺义-产业园", "pool": "floor_area:顺义区", "amount": 500_000}),
    ("05-25", "reserve", {"project": "示意-朝阳-更新项目", "pool": "floor_area:朝阳区", "amount": 150_000}),
    ("05-31", "credit_reduction", {"pool": "land:平谷区", "demolished": 250_000, "ratio": 1.25,
                                   "ref": "示意-平谷-腾退地块D"}),
    ("06-01", "reserve", {"project": "示意-海淀-科研楼", "pool": "floor_area:海淀区", "amount": 100_000}),
    ("06-15", "commit", {"project": "示意-通州-文化设施"}),
    ("06-20", "reserve", {"project": "示意-通州-文化设施（用地）", "pool": "land:通州区", "amount": 300_000}),
    ("07-01", "commit", {"project": "示意-顺义-产业园", "amount": 420_000}),
    ("07-15", "reserve", {"project": "示意-顺义-物流园", "pool": "floor_area:顺义区", "amount": 1_000_000}),  # refused
    ("07-20", "reserve", {"project": "示意-大兴-安置房", "pool": "floor_area:大兴区", "amount": 300_000}),
    ("08-05", "cancel", {"project": "示意-大兴-安置房"}),
    ("08-20", "transfer", {"source": "floor_area:昌平区", "target": "floor_area:大兴区", "amount": 200_000}),
    ("09-09", "commit", {"project": "示意-大兴-产业用地"}),
    ("09-26", "commit", {"project": "示意-朝阳-更新项目", "amount": 120_000}),
    ("10-12", "commit", {"project": "示意-通州-文化设施（用地）", "amount": 250_000}),
    ("10-30", "credit_reduction", {"pool": "land:房山区", "demolished": 500_000, "ratio": 2,
                                   "ref": "示意-房山-腾退地块E"}),
]

MEMO = {
    "release": "示意：{year}年度释放计划释放（演示）",
    "credit_reduction": "示意：腾退地块拆除还绿，按拆占比计入流量池（演示）",
    "reserve": "示意：项目预留指标（演示）",
    "commit": "示意：项目确认使用指标（演示）",
    "cancel": "示意：项目调整，撤销预留（演示）",
    "transfer": "示意：区间调剂（演示）",
}


@dataclass(frozen=True)
class LedgerDemo:
    """What the demo posted: the batches (one per operation that was not refused, and the expiries),
    and the refused operation with the ledger's message."""

    year: int
    batches: list[int] = field(default_factory=list)  # batch ids, in posting order
    expired: list[int] = field(default_factory=list)  # the expiry batches
    refused: dict = field(default_factory=dict)  # {"op", "date", "project", "message"}
    issued: int = 0  # the release plan's issuance batches the ledger posted itself (ledger.yaml schedule)

    def to_records(self) -> dict:
        return {"year": self.year, "batches": len(self.batches), "expired": len(self.expired), "refused": self.refused,
                "issued": self.issued}


def play_ledger_year(store, plan, year: int = 2022) -> LedgerDemo:
    """Post :data:`SCRIPT` for ``year`` (every batch illustrative, idempotency keys
    ``demo-ledger-YEAR-NN``), then expire what ran out by 31 December. Exactly one operation is
    refused; any other refusal is a bug of the script and raises."""
    calls = {"release": L.release, "reserve": L.reserve, "commit": L.commit, "cancel": L.cancel,
             "credit_reduction": L.credit_reduction, "transfer": L.transfer}
    batches: list[int] = []
    refused: dict = {}
    districts: dict[str, str] = {}  # project → the district of its reservation (who commits or cancels it)
    for n, (day, op, args) in enumerate(SCRIPT, start=1):
        when = f"{year}-{day}"
        if "pool" in args:
            districts.setdefault(args.get("project", ""), args["pool"].split(":")[1])
        district = args["pool"].split(":")[1] if "pool" in args else districts.get(args.get("project", ""), "")
        extra = {"year": year} if op == "release" else {}
        try:  # the city releases and transfers; a district's bureau posts the rest
            done = calls[op](store, plan, **args, **extra, memo=MEMO[op].format(year=year),
                             by=CITY if op in ("release", "transfer") or not district else bureau(district),
                             key=KEY.format(year=year, n=n), when=when, illustrative=True)
        except ServiceError as e:
            if refused:
                raise
            refused = {"op": op, "date": when, "project": args.get("project", ""), "message": str(e)}
            continue
        batches.append(int(done.batch["batch_id"]))
    expired = [int(p.batch["batch_id"]) for p in L.expire(store, plan, as_of=f"{year}-12-31", by=CITY, illustrative=True)]
    issued = int((store.ledger_tables()["pw_ledger_batches"]["op"] == "issue").sum())
    return LedgerDemo(year, batches + expired, expired, refused, issued)


__all__ = ["SCRIPT", "LedgerDemo", "play_ledger_year"]
