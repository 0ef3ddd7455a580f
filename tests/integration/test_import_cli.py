"""``coop import-placements FILE.csv``: the CSV twin of ``POST /bookings/import`` (SPEC §6),
run as the command runs, against the test database."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from coop import cli
from coop.bookings.csv_layout import CSV_COLUMNS
from coop.db.schema import booking_events, bookings
from tests.support import Region, count


@pytest.fixture
def command_env(settings, tmp_path, monkeypatch) -> Path:
    """The command's configuration: the test servers (never the embedded default)."""
    monkeypatch.setenv("COOP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COOP_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("COOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COOP_LOG_LEVEL", "WARNING")
    # the command runs in a thread (below), where no signal handler can be set
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)
    return tmp_path


async def run(*argv: str) -> int:
    """``coop ARGV`` (it runs its own event loop: in a thread beside the tests' loop)."""
    return await asyncio.to_thread(cli.main, list(argv))


def write_csv(path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)


def line(region: Region, requester: str, bed_id: str, **cells: Any) -> dict[str, Any]:
    """One CSV row: a 12-year-old girl, active for the last 30 days."""
    row = {
        "requester": requester,
        "bed_id": bed_id,
        "child_ref": "case-0042",
        "child_age": "12",
        "child_gender": "female",
        "child_needs": "semh;autism",
        "child_risks_to_self": "self_harm",
        "child_risks_to_others": "",
        "child_dols": "false",
        "child_care_alongside": "",
        "start_date": region.day(-30),
        "end_date": region.day(60),
        "actual_end_date": "",
        "notice_date": "",
        "weekly_rate_pence": "612345",
        "status": "active",
    }
    row.update(cells)
    return row


async def test_a_good_file_becomes_bookings(region, http, command_env, capsys):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    path = command_env / "placements.csv"
    write_csv(
        path,
        [
            line(region, buyer.authority, bed_a),
            line(
                region,
                buyer.authority,
                bed_b,
                status="ended",
                start_date=region.day(-100),
                end_date=region.day(-5),
                actual_end_date=region.day(-20),
                child_dols="TRUE",
                child_needs="",
                child_care_alongside="with_others",
            ),
            line(region, owner.authority, bed_b, start_date=region.day(-20)),
        ],
    )
    assert await run("import-placements", str(path)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["count"] == 3 and len(printed["ids"]) == 3

    got = []
    for booking_id, actor in zip(printed["ids"], (buyer, buyer, owner), strict=True):
        r = await http.get(f"/bookings/{booking_id}", headers=actor.h)
        assert r.status_code == 200, r.text
        got.append(r.json())
    active, ended, own = got
    assert (active["status"], active["requester"], active["owner"]) == (
        "active",
        buyer.authority,
        owner.authority,
    )
    assert active["child"]["needs"] == ["semh", "autism"]
    assert active["child"]["risks_to_others"] == [] and active["child"]["dols"] is False
    assert active["actual_start_date"] == active["start_date"] == region.day(-30)
    assert active["weekly_rate_pence"] == 612_345 and active["status_reason"] == "imported"
    assert (ended["status"], ended["actual_end_date"], ended["notice_date"]) == (
        "ended",
        region.day(-20),
        region.day(-20),
    )
    assert ended["child"]["dols"] is True and ended["child"]["needs"] == []
    assert ended["child"]["care_alongside"] == "with_others"
    assert own["requester"] == own["owner"] == owner.authority
    r = await http.get(f"/bookings/{active['id']}/events", headers=buyer.h)
    assert [(e["actor"], e["to_status"], e["reason"]) for e in r.json()] == [
        ("cli", "active", "imported")
    ]


async def test_a_bad_file_lists_every_bad_row_and_writes_nothing(region, http, command_env, capsys):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    home = await region.home(owner)
    bed_a, bed_b = (b["id"] for b in home["beds"])
    other = await Region.create(http, region.coop)
    stranger = await other.authority("far")
    path = command_env / "bad.csv"
    write_csv(
        path,
        [
            line(region, buyer.authority, bed_a),  # 1: good
            line(region, buyer.authority, bed_b, child_age="twelve"),  # 2
            line(region, buyer.authority, bed_b, status="ended"),  # 3: no actual end
            line(region, buyer.authority, "bed_nope"),  # 4
            line(region, stranger.authority, bed_b),  # 5: another region
            line(region, buyer.authority, bed_b, child_needs="semh;horse_riding"),  # 6
            line(region, buyer.authority, bed_b, start_date=region.day(2)),  # 7
            line(region, buyer.authority, bed_b, child_dols="maybe", weekly_rate_pence=""),  # 8
        ],
    )
    before = (
        await count(region.coop, bookings, bookings.c.region == region.slug),
        await count(region.coop, booking_events),
    )
    assert await run("import-placements", str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    problem = json.loads(err)
    assert (problem["status"], problem["code"]) == (422, "validation_error")
    assert {(e["row"], e["field"], e["code"]) for e in problem["errors"]} == {
        (2, "child_age", "wrong_type"),
        (3, "actual_end_date", "required"),
        (4, "bed_id", "unknown_bed"),
        (5, "requester", "unknown_authority"),
        (6, "child_needs[1]", "not_allowed"),
        (7, "start_date", "start_in_future"),
        (8, "child_dols", "wrong_type"),
        (8, "weekly_rate_pence", "required"),
    }, problem["errors"]
    assert problem["detail"].startswith("7 rows are invalid: row 2, child_age: ")
    after = (
        await count(region.coop, bookings, bookings.c.region == region.slug),
        await count(region.coop, booking_events),
    )
    assert after == before


async def test_an_overlap_is_refused_naming_the_row(region, command_env, capsys):
    owner = await region.authority("cambs")
    buyer = await region.authority("suffolk")
    bed_a = (await region.home(owner))["beds"][0]["id"]
    path = command_env / "overlap.csv"
    write_csv(
        path,
        [
            line(region, buyer.authority, bed_a),
            line(region, owner.authority, bed_a, start_date=region.day(-10)),
        ],
    )
    assert await run("import-placements", str(path)) == 1
    problem = json.loads(capsys.readouterr().err)
    assert (problem["status"], problem["code"], problem["row"], problem["other_row"]) == (
        409,
        "bed_held",
        2,
        1,
    )
    assert await count(region.coop, bookings, bookings.c.bed_id == bed_a) == 0


async def test_a_file_whose_layout_is_wrong_is_refused_before_anything(command_env, capsys):
    path = command_env / "layout.csv"
    columns = (*(c for c in CSV_COLUMNS if c != "child_age"), "colour")
    write_csv(path, [], columns)
    assert await run("import-placements", str(path)) == 1
    problem = json.loads(capsys.readouterr().err)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("child_age", "required"),
        ("colour", "unknown_field"),
    ]
    path.write_text(",".join(CSV_COLUMNS) + "\n\n", encoding="utf-8")
    assert await run("import-placements", str(path)) == 1
    problem = json.loads(capsys.readouterr().err)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("file", "too_short")]
    assert await run("import-placements", str(command_env / "missing.csv")) == 2
    assert "cannot read" in capsys.readouterr().err
