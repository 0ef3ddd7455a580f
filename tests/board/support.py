"""What the board's tests share: reading a page's figures, and the API's figures for it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx

from coop.board.figures import Dates, add_months


class Page(HTMLParser):
    """The figures (``data-figure`` → ``data-value``), forms and links of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.headings: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "data-figure" in a:
            self.figures[a["data-figure"] or ""] = a.get("data-value") or ""
        if tag == "form":
            self.forms.append({**a, "inputs": {}})
        if tag == "input" and self.forms:
            self.forms[-1]["inputs"][a.get("name")] = a.get("value")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "img":
            self.imgs.append(a)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))


def figures_of(cap: dict, inc: dict, dem: dict, series: dict) -> dict[str, str]:
    """What the page's ``data-figure`` cells must hold, from the API's JSON."""

    def v(x: Any) -> str:
        return "" if x is None else str(x)

    out: dict[str, str] = {}
    fields = [
        "registered",
        "operational",
        "occupied_own",
        "occupied_sold",
        "reserved",
        "vacant_offered",
        "vacant_not_offered",
        "occupancy_pct",
    ]
    for row, key in [*((r, r["authority"]) for r in cap["rows"]), (cap["totals"], "totals")]:
        for f in fields:
            out[f"capacity.{key}.{f}"] = v(row[f])
        out[f"capacity.{key}.out_of_use"] = v(sum(row["out_of_use"].values()))
    money = [
        "income_pence",
        "spend_pence",
        "net_pence",
        "bed_days_sold",
        "bed_days_bought",
        "avg_weekly_price_pence",
        "cost_avoided_pence",
    ]
    for row, key in [*((r, r["authority"]) for r in inc["rows"]), (inc["totals"], "totals")]:
        for f in money:
            out[f"income.{key}.{f}"] = v(row[f])
    for step in series["rows"]:
        out[f"series.{step['from']}.occupancy_pct"] = v(step["occupancy_pct"])
        out[f"series.{step['from']}.registered"] = v(step["registered"])
    t = dem["totals"]
    out["demand.totals.requests"] = v(t["requests"])
    out["demand.totals.unmet.requests"] = v(t["unmet"]["requests"])
    out["demand.totals.fill_rate_pct"] = v(t["fill_rate_pct"])
    ct = cap["totals"]
    out["headline.registered"] = v(ct["registered"])
    out["headline.operational"] = v(ct["operational"])
    out["headline.gap"] = v(ct["registered"] - ct["operational"])
    out["headline.occupancy_pct"] = v(ct["occupancy_pct"])
    out["headline.income_pence"] = v(inc["totals"]["income_pence"])
    out["headline.cost_avoided_pence"] = v(inc["totals"]["cost_avoided_pence"])
    out["headline.unmet"] = v(t["unmet"]["requests"])
    return out


def report_queries(today: date, authority: str | None = None) -> dict[str, tuple[str, dict]]:
    """The API calls whose answers the board shows with its default dates (for a council's
    client, its own series too): name -> (path, parameters)."""
    dates = Dates.default(today)
    period = {"from": dates.start.isoformat(), "to": dates.end.isoformat()}
    series = {
        "step": "month",
        "from": add_months(today, -11).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    queries = {
        "capacity": ("/reports/capacity", {"on": today.isoformat()}),
        "income": ("/reports/income", period),
        "demand": ("/reports/demand", period),
        "series": ("/reports/capacity/series", series),
    }
    if authority:
        queries["own"] = ("/reports/capacity/series", {**series, "authority": authority})
    return queries


def expected_figures(answers: dict[str, Any]) -> dict[str, str]:
    """What the page's ``data-figure`` cells must hold, from the answers to
    :func:`report_queries`."""
    out = figures_of(answers["capacity"], answers["income"], answers["demand"], answers["series"])
    for step in answers.get("own", {"rows": []})["rows"]:
        value = step["occupancy_pct"]
        out[f"own_series.{step['from']}.occupancy_pct"] = "" if value is None else str(value)
    return out


def api_figures(base: str, bearer: str, today: date) -> dict[str, str]:
    """What the board must show, from a running server's API, for the same client."""
    answers = {}
    for name, (path, params) in report_queries(today).items():
        r = httpx.get(
            f"{base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        answers[name] = r.json()
    return expected_figures(answers)
