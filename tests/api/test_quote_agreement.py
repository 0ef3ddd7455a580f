"""A quote answers what a request made at the same moment gets (SPEC §3 "Allocation", quote).

Random markets are built through the HTTP API: one owner's home (1–3 beds, random ages,
gender, needs, risks, DoLS and purpose), voids on its beds, beds taken out of use, and a
random history of requests by the owner, members, an associate and a suspended council —
some offered and accepted (children living in the home), some offered and left (later
requests wait behind them), some pending inside the home window, some decidable but not yet
decided (the clock moved past their ``decide_at`` with no sweep). Then one would-be request
is quoted (``POST /bookings/quote``) and made (``POST /bookings``) by the same caller, with
the same body, the clock frozen in between. The two must agree on the status, its reason, the
price and ``decide_at``; a declined request's reason is among the quote's reasons.

The one permitted difference: for anyone but the bed's owner the quote does not evaluate the
rules that depend on the children living in the home (``care_alongside`` ``only_older`` /
``only_younger``) — neither the request's own nor those of the requests the simulation
decides ahead of it — and lists ``care_alongside`` in ``checked_at_decision`` when such a rule
could change its answer. The request may then be declined ``care_alongside`` (its own wish),
or offered where the quote said it would wait behind an offer only the simulation made (the
undecided request ahead of it, whose wish the quote may not judge). Nothing else.

Hypothesis drives a sync test; each step runs its coroutine on the test session's event loop
(idle while a sync test runs), as in ``tests/integration/test_booking_stateful.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from coop.bookings.jobs import due_beds, settle
from coop.policy.document import RANKING_KEYS
from coop.policy.vocabulary import NEEDS, RISKS, RISKS_TO_OTHERS, RISKS_TO_SELF
from tests.api.test_bookings_policy import ask, book, post, put_policy, status, ts
from tests.support import Actor, Region, child

URGENCIES = ["today", "within_5_days", "planned"]
LAST_START = {"today": 0, "within_5_days": 5}  # days from today; `planned`: any future day
WISHES = ["no_preference", "with_others", "solo", "only_older", "only_younger"]
RESIDENT_WISHES = frozenset({"only_older", "only_younger"})
ALL_NEEDS = sorted(NEEDS)
ALL_RISKS = sorted(RISKS)
MEMBERSHIPS = {"m1": "member", "m2": "member", "assoc": "associate", "susp": "suspended"}
BUYERS = ["m1", "m2", "assoc"]  # who makes the market's history besides the owner
#: what the examples covered (asserted at the end: the property must have been exercised)
SEEN: Counter = Counter()


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


# -- the market ------------------------------------------------------------------------------


@dataclass
class Market:
    region: Region
    actors: dict[str, Actor]
    home: dict[str, Any]
    beds: list[str]
    voids: dict[str, dict[str, Any]] = field(default_factory=dict)
    out_of_use: set[str] = field(default_factory=set)
    bookings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def owner(self) -> Actor:
        return self.actors["owner"]


def dates_for(data: st.DataObject, urgency: str, *, long: bool = False) -> tuple[int, int]:
    """A valid period for ``urgency``, as day offsets from today."""
    if urgency == "today":
        start = 0
    elif urgency == "within_5_days":
        start = data.draw(st.integers(0, 5), label="start")
    else:
        start = data.draw(st.integers(0, 12), label="start")
    lengths = st.integers(1, 30)
    if long:  # now and then past max_weeks (assessment 20 weeks, solo 26)
        lengths = st.one_of(lengths, st.integers(130, 200))
    return start, start + data.draw(lengths, label="length")


def child_for(data: st.DataObject, home: dict[str, Any], ref: str, *, fitting: bool) -> dict:
    """A child profile: one who fits the home's age, gender, needs, risks and DoLS, or any."""
    wish = data.draw(st.sampled_from([*WISHES, *RESIDENT_WISHES]), label="care_alongside")
    if not fitting:
        return child(
            ref=ref,
            age=data.draw(st.integers(home["age_min"] - 2, home["age_max"] + 2).map(abs)),
            gender=data.draw(st.sampled_from(["male", "female", "other"])),
            needs=data.draw(st.lists(st.sampled_from(ALL_NEEDS), unique=True, max_size=2)),
            risks_to_self=data.draw(
                st.lists(st.sampled_from(sorted(RISKS_TO_SELF)), unique=True, max_size=2)
            ),
            risks_to_others=data.draw(
                st.lists(st.sampled_from(sorted(RISKS_TO_OTHERS)), unique=True, max_size=1)
            ),
            dols=data.draw(st.booleans()),
            care_alongside=wish,
        )
    genders = ["male", "female", "other"] if home["gender"] == "mixed" else [home["gender"]]
    needs, risks = home["needs_supported"], home["risks_managed"]
    return child(
        ref=ref,
        age=data.draw(st.integers(home["age_min"], home["age_max"]), label="age"),
        gender=data.draw(st.sampled_from(genders)),
        needs=data.draw(st.lists(st.sampled_from(needs), unique=True)) if needs else [],
        risks_to_self=sorted(set(risks) & RISKS_TO_SELF)[: data.draw(st.integers(0, 1))],
        risks_to_others=sorted(set(risks) & RISKS_TO_OTHERS)[: data.draw(st.integers(0, 1))],
        dols=home["accepts_dols"] and data.draw(st.booleans()),
        care_alongside=wish,
    )


def body_for(
    data: st.DataObject,
    m: Market,
    who: str,
    *,
    final: bool = False,
    rivals: list[dict[str, Any]] = [],  # noqa: B006 - read only
) -> dict[str, Any] | None:
    """A request body by ``who`` for one of the beds: through a void (anyone), or by
    ``bed_id`` (the owner only). ``None`` when ``who`` has no way to ask for a bed. Now and
    then it contests one of ``rivals`` (the home's bookings): the same bed and period."""
    beds = m.beds if who == "owner" else [b for b in m.beds if b in m.voids]
    if not beds:
        return None
    today = m.region.today()
    rivals = [
        r for r in rivals if r["bed_id"] in beds and date.fromisoformat(r["start_date"]) >= today
    ]
    rival = None
    if rivals and data.draw(st.booleans(), label="contest"):
        rival = data.draw(st.sampled_from(rivals), label="rival")
    bed = rival["bed_id"] if rival else data.draw(st.sampled_from(beds), label="bed")
    void = m.voids.get(bed)
    ways = (["void"] if void else []) + (["bed"] if who == "owner" else [])
    way = data.draw(st.sampled_from(ways), label="by")
    if rival:
        start = (date.fromisoformat(rival["start_date"]) - today).days
        end = (date.fromisoformat(rival["end_date"]) - today).days
        valid = [u for u in URGENCIES if start <= LAST_START.get(u, start)]
        urgency = data.draw(st.sampled_from(valid), label="urgency")
    else:
        urgency = data.draw(st.sampled_from(URGENCIES), label="urgency")
        start, end = dates_for(data, urgency, long=final)
    # A rare branch is taken on a value other than 0 (hypothesis draws 0 often).
    fitting = data.draw(st.integers(0, 4), label="fitting") != 3
    body = ask(
        m.region,
        void=void if way == "void" else None,
        bed=bed if way == "bed" else None,
        urgency=urgency,
        start=start,
        end=end,
        child=child_for(data, m.home, f"c-{len(m.bookings)}", fitting=fitting),
    )
    if data.draw(st.integers(0, 3), label="budget") == 3:
        body["max_weekly_price_pence"] = data.draw(st.integers(250_000, 1_200_000))
    return body


async def publish(data: st.DataObject, m: Market, bed: str) -> None:
    """A void on ``bed``: mostly from today and open-ended (the default), now and then later
    or bounded."""
    start = data.draw(st.sampled_from([0, 0, 0, 1, 2]), label="void from")
    until = data.draw(
        st.one_of(st.none(), st.none(), st.integers(start + 3, start + 40)), label="void until"
    )
    extra = {"available_until": m.region.day(until)} if until is not None else {}
    m.voids[bed] = await m.region.void(m.owner, bed, available_from=m.region.day(start), **extra)


async def build(data: st.DataObject, http: httpx.AsyncClient, coop: Any, clock: Any) -> Market:
    region = await Region.create(http, coop)
    if data.draw(st.booleans(), label="own policy"):
        priority = {
            "today_skips_home_window": data.draw(st.booleans()),
            "home_window": data.draw(st.sampled_from(["PT0S", "PT1H", "PT48H", "PT96H"])),
            "ranking": data.draw(st.permutations(RANKING_KEYS), label="ranking"),
        }
        await put_policy(http, region, {"priority": priority})
    owner_membership = data.draw(st.sampled_from(["member", "associate"]), label="owner is")
    actors = {"owner": await region.authority("owner", membership=owner_membership)}
    for name, membership in MEMBERSHIPS.items():
        actors[name] = await region.authority(name, membership=membership)

    age_min = data.draw(st.integers(0, 14), label="age_min")
    home = await region.home(
        actors["owner"],
        beds=[{"label": label} for label in "ABC"[: data.draw(st.integers(1, 3), label="beds")]],
        age_min=age_min,
        age_max=data.draw(st.integers(age_min, 17), label="age_max"),
        gender=data.draw(st.sampled_from(["mixed", "mixed", "male", "female"])),
        needs_supported=data.draw(st.lists(st.sampled_from(ALL_NEEDS), unique=True)),
        risks_managed=data.draw(st.lists(st.sampled_from(ALL_RISKS), unique=True)),
        accepts_dols=data.draw(st.booleans()),
        purpose=data.draw(st.sampled_from(["long_term", "assessment", "emergency"])),
        weekly_cost_pence=data.draw(st.integers(250_000, 950_000), label="weekly_cost"),
    )
    m = Market(region, actors, home, [b["id"] for b in home["beds"]])
    for bed in m.beds:
        if data.draw(st.integers(0, 5), label="no void") == 5:
            continue
        await publish(data, m, bed)

    for _ in range(data.draw(st.integers(0, 10), label="history")):
        step = data.draw(st.sampled_from(HISTORY), label="step")
        await STEPS[step](data, m, http, coop, clock)
        clock.advance(seconds=data.draw(st.sampled_from([0, 1, 7]), label="gap"))
    return m


# -- the market's history --------------------------------------------------------------------


async def a_request(data, m: Market, http, coop, clock) -> None:
    who = data.draw(st.sampled_from(["owner", *BUYERS]), label="who")
    body = body_for(data, m, who)
    if body is not None:
        m.bookings.append((who, await book(http, m.actors[who], body)))


async def a_placement(data, m: Market, http, coop, clock) -> None:
    """A child who fits comes to live in the home: a `today` request (through a void, or the
    owner's by bed), accepted by the owner when it is offered."""
    who = data.draw(st.sampled_from(["owner", *BUYERS]), label="placer")
    beds = m.beds if who == "owner" else [b for b in m.beds if b in m.voids]
    if not beds:
        return
    bed = data.draw(st.sampled_from(beds), label="bed")
    placed = child_for(data, m.home, f"p-{len(m.bookings)}", fitting=True)
    body = ask(
        m.region,
        void=m.voids.get(bed) if who != "owner" else None,
        bed=bed if who == "owner" else None,
        urgency="today",
        end=data.draw(st.integers(1, 30), label="length"),
        child={**placed, "care_alongside": "no_preference"},
    )
    b = await book(http, m.actors[who], body)
    m.bookings.append((who, b))
    if b["status"] == "offered":
        r = await http.post(f"/bookings/{b['id']}/accept", headers=m.owner.h)
        assert r.status_code in (200, 409), r.text


async def _current(http, m: Market, status: str | None = None) -> list[dict[str, Any]]:
    """The home's bookings (in ``status``), as its owner lists them."""
    params = {"role": "owner", "home_id": m.home["id"], "limit": 200}
    r = await http.get(
        "/bookings",
        params=params | ({"status": status} if status else {}),
        headers=m.owner.h,
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def an_accept(data, m: Market, http, coop, clock) -> None:
    """The owner accepts an offer (a child comes to live there); it may no longer fit."""
    offered = await _current(http, m, "offered")
    if offered:
        b = data.draw(st.sampled_from(offered), label="accept")
        r = await http.post(f"/bookings/{b['id']}/accept", headers=m.owner.h)
        assert r.status_code in (200, 409), r.text


async def an_arrival(data, m: Market, http, coop, clock) -> None:
    today = m.region.day(0)
    confirmed = [
        b for b in await _current(http, m, "confirmed") if b["start_date"] <= today < b["end_date"]
    ]
    if confirmed:
        b = data.draw(st.sampled_from(confirmed), label="arrive")
        await post(http, m.owner, b, "start", {"date": today})


async def time_passes(data, m: Market, http, coop, clock) -> None:
    """Hours pass — past home windows and offer holds — with or without the sweep: without
    it, decidable requests are left for the next request on the bed to decide."""
    hours = st.one_of(st.sampled_from([1, 4, 24, 48, 49, 97]), st.integers(1, 60))
    clock.advance(hours=data.draw(hours, label="hours"), seconds=1)
    if data.draw(st.integers(0, 3), label="sweep") == 3:
        await sweep_home(m, coop)


async def sweep_home(m: Market, coop: Any) -> None:
    """The sweep, on this market's beds only (other examples' homes are left alone)."""
    now = coop.clock.now()
    due = set(await due_beds(coop.engine, now))
    for bed in m.beds:
        if bed in due:
            await settle(coop.engine, bed, now, coop.scheduler)


async def out_of_use(data, m: Market, http, coop, clock) -> None:
    bed = data.draw(st.sampled_from(m.beds), label="out of use")
    if bed in m.out_of_use:
        return
    version = next(b["version"] for b in m.home["beds"] if b["id"] == bed)
    r = await http.patch(
        f"/beds/{bed}",
        json={"status": "out_of_use", "out_of_use_reason": "staffing"},
        headers={**m.owner.h, "If-Match": f'"{version}"'},
    )
    assert r.status_code == 200, r.text
    m.out_of_use.add(bed)


async def republish(data, m: Market, http, coop, clock) -> None:
    """The owner withdraws a void and publishes a new one: a new home window opens, and the
    requests made through the old void expire when they are decided."""
    bed = data.draw(st.sampled_from(m.beds), label="republish")
    if bed in m.voids and bed not in m.out_of_use:
        r = await http.post(f"/voids/{m.voids.pop(bed)['id']}/withdraw", headers=m.owner.h)
        assert r.status_code == 200, r.text
        await publish(data, m, bed)


STEPS = {
    "request": a_request,
    "placement": a_placement,
    "accept": an_accept,
    "arrive": an_arrival,
    "time": time_passes,
    "out_of_use": out_of_use,
    "republish": republish,
}
HISTORY = (
    ["request"] * 6
    + ["placement"] * 3
    + ["accept"] * 2
    + ["time"] * 2
    + ["arrive", "out_of_use", "republish"]
)


# -- quote and request -----------------------------------------------------------------------


async def quote_then_book(
    http: httpx.AsyncClient, actor: Actor, body: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response]:
    """The quote, then the request, with the same body by the same caller; nothing moves the
    clock in between (the quote saves nothing)."""
    q = await http.post("/bookings/quote", json=body, headers=actor.h)
    b = await http.post("/bookings", json=body, headers=actor.h)
    return q, b


def check_agreement(q: dict[str, Any], b: dict[str, Any], *, own: bool, wish: str) -> None:
    """What the quote said against what the request got (see the module)."""
    facts = {"quote": q, "booking": b}
    assert q["weekly_rate_pence"] == b["weekly_rate_pence"], facts
    assert q["price_breakdown"] == b["price_breakdown"], facts
    assert ts(q["decide_at"]) == ts(b["decide_at"]), facts
    # Only the owner is told about the children living there; anyone else is told the rule
    # is left for the decision: its own wish always, another request's when it stood ahead.
    if own:
        assert q["checked_at_decision"] == [], facts
    elif wish in RESIDENT_WISHES:
        assert q["checked_at_decision"] == ["care_alongside"], facts
    else:
        assert q["checked_at_decision"] in ([], ["care_alongside"]), facts
        if q["checked_at_decision"]:
            assert q["status"] == "pending", facts  # only a wait can be undone
    deferred = q["checked_at_decision"]

    quoted = (q["status"], q["status_reason"])
    got = (b["status"], b["status_reason"])
    if quoted != got:
        # The permitted differences: a rule the quote did not evaluate declined this request,
        # or declined the request ahead of it, which the quote had offered the bed.
        assert deferred and (
            got == ("declined", "care_alongside")
            or (quoted, got[0]) == (("pending", None), "offered")
        ), facts
        SEEN["differs on a deferred rule"] += 1
        return
    if b["status"] == "declined":
        assert b["status_reason"] in q["reasons"], facts
        assert q["fits"] is False, facts
    if q["status"] == "offered":
        assert q["fits"] is True and q["reasons"] == [], facts


def test_a_quote_answers_what_a_request_made_at_the_same_moment_gets(
    session_loop, http, coop, session_clock
):
    loop = session_loop

    def run(coro):
        return loop.run_until_complete(coro)

    start = datetime.now(UTC).replace(microsecond=0)

    @settings(
        max_examples=35,
        derandomize=True,  # the same markets in CI every time
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def agree(data: st.DataObject) -> None:
        # Any time of day (midnight in England included); each example has its own region and
        # tokens, and within one the clock only moves forward.
        session_clock.set(start + timedelta(minutes=data.draw(st.integers(0, 48 * 60))))
        m = run(build(data, http, coop, session_clock))
        there = run(_current(http, m))
        statuses = Counter(b["status"] for b in there)
        for kind in ("confirmed", "active", "offered", "pending"):
            SEEN[f"market with {kind}"] += bool(statuses[kind])
        if data.draw(st.integers(0, 11), label="suspended asks") == 11:
            who = "susp"
        else:
            who = data.draw(st.sampled_from(["owner", "owner", *BUYERS]), label="final who")
        body = body_for(data, m, who, final=True, rivals=there)
        assume(body is not None)
        assert body is not None
        if data.draw(st.integers(0, 19), label="broken dates") == 19:
            body["end_date"] = body["start_date"]  # a 4xx: both must refuse it alike
        q, b = run(quote_then_book(http, m.actors[who], body))
        if q.status_code >= 400 or b.status_code >= 400:
            assert (q.status_code, q.json().get("code")) == (b.status_code, b.json().get("code"))
            SEEN["refused alike"] += 1
            event(f"refused {q.status_code} {q.json().get('code')}")
            assume(False)
        assert (q.status_code, b.status_code) == (200, 201), (q.text, b.text)
        quote, booking = q.json(), b.json()
        own = m.actors[who].authority == booking["owner"]
        wish = body["child"]["care_alongside"]
        check_agreement(quote, booking, own=own, wish=wish)
        outcome = f"{booking['status']} {booking['status_reason'] or ''}".strip()
        SEEN[outcome] += 1
        SEEN["owner" if own else "other council"] += 1
        if wish in RESIDENT_WISHES and not own:
            SEEN["deferred care_alongside"] += 1
        event(outcome)

    agree()
    # The property only means something if the markets gave every kind of answer.
    kinds = ("offered", "pending", "owner", "other council", "deferred care_alongside")
    for kind in (*kinds, "market with confirmed", "market with offered", "market with pending"):
        assert SEEN[kind], (kind, SEEN)
    assert any(k.startswith("declined ") for k in SEEN), SEEN


# -- a disagreement, reduced -----------------------------------------------------------------


async def test_a_quote_and_a_request_agree_when_a_decidable_request_waits_on_a_resident(
    region, http, clock
):
    """A request for the bed that is decidable but not yet decided (its home window passed, no
    sweep yet) and that cannot live with a child in the home (``only_older``) is declined
    ``care_alongside`` by the next request's decision, which is then offered the bed. The
    quote of that next request, by a council that is not the owner, cannot judge the waiting
    request's wish against the children living there (that would tell it about them): it says
    the request would wait behind that one, and that ``care_alongside`` is checked at the
    decision — the one difference SPEC §3 permits. (A quote once said ``pending`` here with an
    empty ``checked_at_decision``.)"""
    owner = await region.authority("cambs")
    placer = await region.authority("norfolk")
    waiting = await region.authority("essex")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])

    # A child of 10 lives in bed B over the next four weeks.
    there = ask(region, void=await region.void(owner, bed_b), urgency="today", child=child(age=10))
    resident = await book(http, placer, there)
    assert resident["status"] == "offered", resident
    await post(http, owner, resident, "accept")

    # A 12-year-old who will only live with older children asks for bed A: screened, it waits
    # out the home window.
    void = await region.void(owner, bed_a)
    older_only = child(ref="older-only", age=12, care_alongside="only_older")
    first = await book(http, waiting, ask(region, void=void, start=4, end=20, child=older_only))
    assert first["status"] == "pending", first
    clock.advance(hours=49)  # decidable now; nothing has decided it yet

    body = ask(region, void=void, start=3, end=20, child=child(ref="plain"))
    q, b = await quote_then_book(http, buyer, body)
    assert (q.status_code, b.status_code) == (200, 201), (q.text, b.text)
    quote, booking = q.json(), b.json()
    # What the request got: the waiting request was declined, this one offered the bed.
    assert (booking["status"], booking["status_reason"]) == ("offered", None), booking
    assert await status(http, waiting, first) == ("declined", "care_alongside")
    # The quote could not know: it says the rule is left for the decision.
    assert (quote["status"], quote["status_reason"]) == ("pending", None), quote
    assert quote["checked_at_decision"] == ["care_alongside"], quote
    check_agreement(quote, booking, own=False, wish="no_preference")
