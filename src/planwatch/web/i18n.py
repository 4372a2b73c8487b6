"""The dashboard's own words in Chinese (first) and English. The plan's text, its targets' names,
reasons and findings are the plan's and the check-up's: they stay as written, in Chinese."""

from __future__ import annotations

LANGS = ("zh", "en")

WORDS: dict[str, tuple[str, str]] = {
    # navigation
    "app": ("规划体检监测", "Plan monitoring"),
    "board": ("总览", "Overview"),
    "indicators": ("指标", "Indicators"),
    "map": ("一张图", "One map"),
    "review": ("项目审查", "Project review"),
    "ledger": ("指标台账", "Quota ledger"),
    "findings": ("问题清单", "Findings"),
    "entry": ("数据填报", "Data entry"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "other_lang": ("English", "中文"),
    "name": ("用户名", "Name"),
    "password": ("密码", "Password"),
    "year": ("年份", "Year"),
    "show": ("查看", "Show"),
    "synthetic": ("示意数据（非官方）", "synthetic demo data (not official)"),
    "illustrative": ("示意", "illustrative"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "public": ("公开只读", "public, read only"),
    "no_data": ("暂无数据", "no data"),
    # levels
    "green": ("绿灯", "on track"),
    "yellow": ("黄灯", "lagging"),
    "red": ("红灯", "off track"),
    "grey": ("无数据", "no data"),
    "not_graded": ("不评级", "not graded"),
    # board
    "board_title": ("规划实施总览", "Plan implementation overview"),
    "by_category": ("按类别", "By category"),
    "by_district": ("按区", "By district"),
    "counts": ("灯号计数", "Counts"),
    "change": ("较上年变化", "Change since last year"),
    "target": ("指标", "Target"),
    "category": ("类别", "Category"),
    "district": ("区", "District"),
    "level": ("灯号", "Level"),
    "value": ("数值", "Value"),
    "unit": ("单位", "Unit"),
    "reason": ("评价理由", "Reason"),
    "last_year": ("上年", "Last year"),
    "this_year": ("本年", "This year"),
    "unchanged": ("无变化", "unchanged"),
    "improved": ("好转", "improved"),
    "worsened": ("变差", "worsened"),
    "new": ("新增评级", "newly graded"),
    "targets_graded": ("个指标有评级", "targets graded"),
    "no_district_data": ("本库无分区指标数据：区级编辑上传分区数据后在此显示。",
                         "No district figures in this store yet: they appear here once district editors upload them."),
    "all_targets": ("全部指标", "All targets"),
    # indicator page
    "article": ("规划原文", "The plan's text"),
    "baseline": ("基期", "Baseline"),
    "goals": ("规划目标", "Targets"),
    "observations": ("观测数据", "Observations"),
    "source": ("来源", "Source"),
    "published": ("发布", "Published"),
    "scope_note": ("口径说明", "Scope"),
    "related": ("相关统计（口径不同，不评级）", "Related statistics (different scope, not graded)"),
    "chart": ("观测值、目标路径与预测", "Observations, target path and forecast"),
    "methods": ("各方法结果", "Every method's result"),
    "method": ("方法", "Method"),
    "result": ("结果", "Result"),
    "open_findings": ("未销号问题", "Open findings"),
    "forecast": ("预测", "Forecast"),
    "target_path": ("目标路径", "Target path"),
    "observed": ("观测值", "Observed"),
    "no_checkup": ("该年无评价结果（无数据）", "No verdict for this year (no data)"),
    # map
    "layers": ("图层", "Layers"),
    "choropleth": ("分区专题图", "District choropleth"),
    "none": ("无", "none"),
    "click_feature": ("点击要素查看属性", "Click a feature to see its attributes"),
    "shown_first": ("仅显示前", "showing the first"),
    "features": ("个要素", "features"),
    "no_basemap": ("无底图（离线）；可在配置中设置瓦片地址", "No basemap (offline); a tile URL can be configured"),
    # review
    "draw": ("在地图上点击绘制多边形，双击完成", "Click on the map to draw a polygon; double-click to finish"),
    "upload_geojson": ("或上传 GeoJSON 文件（WGS84）", "or upload a GeoJSON file (WGS 84)"),
    "run_review": ("审查", "Review"),
    "clear": ("清除", "Clear"),
    "conflicts": ("冲突", "Conflicts"),
    "no_conflicts": ("无冲突", "No conflicts"),
    "zones": ("所在分区", "Zones"),
    "area": ("面积", "Area"),
    "reserve": ("预留指标", "Reserve quota"),
    "project": ("项目编号", "Project"),
    "pool": ("指标池", "Pool"),
    "amount": ("数量（m²）", "Amount (m²)"),
    "reserve_needs_role": ("预留指标需以本区区级编辑或管理员身份登录。", "Reserving quota needs a district editor of the district, or an admin: log in."),
    # ledger
    "pools": ("指标池", "Pools"),
    "available": ("可用", "Available"),
    "reserved": ("已预留", "Reserved"),
    "committed": ("已使用", "Committed"),
    "released": ("已释放", "Released"),
    "reduced": ("减量", "Reduced"),
    "ring": ("圈层", "Ring"),
    "caps": ("上限", "Caps"),
    "measured": ("当前", "Measured"),
    "limit": ("上限值", "Limit"),
    "history": ("台账流水", "History"),
    "date": ("日期", "Date"),
    "operation": ("操作", "Operation"),
    "account": ("账户", "Account"),
    "balance": ("余额", "Balance"),
    "actor": ("经办", "By"),
    "memo": ("摘要", "Memo"),
    "over": ("超限", "over"),
    "holds": ("未超", "holds"),
    # findings
    "state": ("状态", "State"),
    "overdue": ("逾期", "Overdue"),
    "overdue_only": ("只看逾期", "Overdue only"),
    "all": ("全部", "All"),
    "open": ("未销号", "Open"),
    "closed": ("已关闭", "Closed"),
    "responsible": ("责任单位", "Responsible unit"),
    "due": ("整改时限", "Due"),
    "severity": ("严重程度", "Severity"),
    "filter": ("筛选", "Filter"),
    "days_overdue": ("逾期天数", "Days overdue"),
    "events": ("流转记录", "Transitions"),
    "evidence": ("佐证材料", "Evidence"),
    "next_actions": ("可进行的操作", "Next actions"),
    "text": ("说明", "Text"),
    "to_unit": ("交办单位", "Assign to unit"),
    "files": ("文件", "Files"),
    "do": ("提交", "Submit"),
    "recommendation": ("对策建议", "Recommendation"),
    # entry
    "entry_title": ("数据填报", "Data entry"),
    "template": ("下载本区填报模板（XLSX）", "Download your district's template (XLSX)"),
    "choose_file": ("选择 CSV 或 XLSX 文件", "Choose a CSV or XLSX file"),
    "preview": ("预检", "Preview"),
    "commit": ("确认导入", "Import"),
    "row": ("行", "Row"),
    "errors": ("错误", "Errors"),
    "ok_rows": ("可导入行", "rows ready"),
    "entry_needs_login": ("数据填报需以区级编辑或管理员身份登录。", "Data entry needs a district editor or an admin: log in."),
    "footer": ("planwatch：数据、图表与地图均由本服务器提供，不依赖外网。",
               "planwatch: data, charts and maps all come from this server; no internet needed."),
}

LEVEL_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "grey": "#9e9e9e"}


def lang_of(value: str | None) -> str:
    """``zh`` unless ``value`` is ``en``."""
    return "en" if value == "en" else "zh"


def translator(lang: str):
    """``t(key)``: the word in ``lang`` (the key itself when unknown, so a missing word shows)."""
    i = LANGS.index(lang_of(lang))

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return pair[i] if pair else key

    return t


__all__ = ["LANGS", "LEVEL_COLOURS", "WORDS", "lang_of", "translator"]
