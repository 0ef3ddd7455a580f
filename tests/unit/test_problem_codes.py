"""The code tables of ``docs/api.md`` §10 (and §3's OAuth errors) list exactly the codes the
service can answer.

The source is scanned, not run: every ``Problem(status, "code", ...)`` and its short-hands,
every ``code="..."`` keyword, every ``(4xx/5xx, "code", ...)`` tuple (the tables of
``coop.db.session`` and ``coop.members.service.check_version``), every ``{"code": "..."}`` of
an ``errors`` entry that is not a field code (a rule's own code), plus the codes of
``coop.errors._HTTP_CODES``. The field codes (``errors[].code``) are ``coop.edge.FIELD_CODES``.
No database is needed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from coop.edge import FIELD_CODES
from coop.errors import _HTTP_CODES

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "coop"
DOC = ROOT / "docs" / "api.md"

SNAKE = re.compile(r"^[a-z][a-z0-9_]+$")
#: call name -> the position of its code argument (and the status it implies, if fixed)
CODE_ARGUMENT: dict[str, tuple[int, int | None]] = {
    "Problem": (1, None),  # Problem(status, code, detail)
    "conflict": (0, 409),
    "_unauthenticated": (0, 401),
    "_unauthorized": (0, 401),
    "invalid": (2, 422),  # invalid(field, detail, code="validation_error")
    "field_problem": (1, 422),  # field_problem(errors, code="validation_error", detail=...)
}
#: the OAuth errors of POST /oauth/token: _oauth_error(status, error, description)
OAUTH_CALL = "_oauth_error"
#: the field codes a FieldError(field, code, detail) may carry
FIELD_CALL = "FieldError"
#: litestar.status_codes names: HTTP_500_INTERNAL_SERVER_ERROR
STATUS_NAME = re.compile(r"^HTTP_(\d{3})_")


@dataclass
class Found:
    """Codes in the source: code -> statuses (None: not a literal) and where first seen."""

    statuses: dict[str, set[int | None]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    patterns: list[tuple[re.Pattern[str], int | None, str]] = field(default_factory=list)

    def add(self, code: str, status: int | None, where: str) -> None:
        self.statuses.setdefault(code, set()).add(status)
        self.where.setdefault(code, where)


@dataclass
class Scan:
    problems: Found = field(default_factory=Found)
    oauth: Found = field(default_factory=Found)
    field_codes: Found = field(default_factory=Found)


def _status(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    name = getattr(node, "id", None) or getattr(node, "attr", None)
    if isinstance(name, str) and (m := STATUS_NAME.match(name)):
        return int(m.group(1))
    return None


def _name(call: ast.Call) -> str | None:
    return getattr(call.func, "id", None) or getattr(call.func, "attr", None)


def _pattern(node: ast.JoinedStr) -> re.Pattern[str]:
    """``f"not_{side}"`` -> ``^not_[a-z0-9_]+$``."""
    parts = [
        re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z0-9_]+" for v in node.values
    ]
    return re.compile("^" + "".join(parts) + "$")


def scan(root: Path = SOURCE) -> Scan:
    out = Scan()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = _name(node)
                if name in CODE_ARGUMENT:
                    pos, status = CODE_ARGUMENT[name]
                    if name == "Problem" and node.args:
                        status = _status(node.args[0])
                    arg = node.args[pos] if len(node.args) > pos else None
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        out.problems.add(arg.value, status, where)
                    elif isinstance(arg, ast.JoinedStr):
                        out.problems.patterns.append((_pattern(arg), status, where))
                elif name == OAUTH_CALL and len(node.args) > 1:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        out.oauth.add(arg.value, _status(node.args[0]), where)
                elif name == FIELD_CALL and len(node.args) > 1:
                    arg = node.args[1]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        out.field_codes.add(arg.value, None, where)
                        # as in an errors[] dict: a code that is not a field code is a rule's
                        if arg.value not in FIELD_CODES:
                            out.problems.add(arg.value, None, where)
                if name != FIELD_CALL:
                    for kw in node.keywords:
                        value = kw.value
                        if (
                            kw.arg == "code"
                            and isinstance(value, ast.Constant)
                            and isinstance(value.value, str)
                        ):
                            status = 422 if name == "invalid" else None
                            if name == "Problem" and node.args:
                                status = _status(node.args[0])
                            out.problems.add(value.value, status, where)
            elif isinstance(node, ast.Tuple) and len(node.elts) >= 2:
                a, b = node.elts[0], node.elts[1]
                if (
                    isinstance(a, ast.Constant)
                    and isinstance(a.value, int)
                    and 400 <= a.value < 600
                    and isinstance(b, ast.Constant)
                    and isinstance(b.value, str)
                    and SNAKE.match(b.value)
                ):
                    out.problems.add(b.value, a.value, where)
            elif isinstance(node, ast.Dict):
                # {"field": ..., "code": "x", "detail": ...}: an entry of errors[]. A code that
                # is not a field code is a rule's own, which is the problem's code too.
                for k, v in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(k, ast.Constant)
                        and k.value == "code"
                        and isinstance(v, ast.Constant)
                        and isinstance(v.value, str)
                        and SNAKE.match(v.value)
                    ):
                        out.field_codes.add(v.value, None, where)
                        if v.value not in FIELD_CODES:
                            out.problems.add(v.value, None, where)
    for status, (code, _title, _detail) in _HTTP_CODES.items():
        out.problems.add(code, status, "coop/errors.py (_HTTP_CODES)")
    return out


# -- the document ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    status: int | None
    codes: tuple[str, ...]
    line: int


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(text: str) -> list[tuple[list[str], list[tuple[int, list[str]]]]]:
    """Every Markdown table: its header cells and its rows (line number, cells)."""
    found = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if (
            lines[i].lstrip().startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1])
        ):
            header = _cells(lines[i])
            rows = []
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                rows.append((j + 1, _cells(lines[j])))
                j += 1
            found.append((header, rows))
            i = j
        else:
            i += 1
    return found


def documented(column: str) -> list[Row]:
    """The rows of every table whose header has ``column`` (e.g. ```code```)."""
    out = []
    for header, rows in tables(DOC.read_text(encoding="utf-8")):
        if column not in header:
            continue
        at = header.index(column)
        status_at = header.index("status") if "status" in header else None
        for line, cells in rows:
            codes = tuple(re.findall(r"`([a-z][a-z0-9_]*)`", cells[at]))
            status = None
            if status_at is not None and cells[status_at].strip().isdigit():
                status = int(cells[status_at])
            out.append(Row(status, codes, line))
    return out


def _pairs(rows: list[Row]) -> set[tuple[int | None, str]]:
    return {(r.status, c) for r in rows for c in r.codes}


# -- the tests ------------------------------------------------------------------------------------

FOUND = scan()
PROBLEM_ROWS = documented("`code`")
OAUTH_ROWS = documented("`error`")
FIELD_ROWS = documented("`errors[].code`")


def test_the_scanner_finds_the_codes() -> None:
    assert len(FOUND.problems.statuses) > 30, sorted(FOUND.problems.statuses)
    assert len(FOUND.oauth.statuses) >= 3, sorted(FOUND.oauth.statuses)
    assert {"validation_error", "not_found", "busy", "malformed_body"} <= set(
        FOUND.problems.statuses
    )
    assert PROBLEM_ROWS and OAUTH_ROWS and FIELD_ROWS, "the code tables of docs/api.md are gone"


def test_every_problem_code_in_the_source_is_documented() -> None:
    doc = {c for r in PROBLEM_ROWS for c in r.codes}
    missing = {c: FOUND.problems.where[c] for c in FOUND.problems.statuses if c not in doc}
    assert not missing, "undocumented problem codes (add them to docs/api.md §10): " + ", ".join(
        f"{c} ({w})" for c, w in sorted(missing.items())
    )
    for pattern, _status, where in FOUND.problems.patterns:
        assert any(pattern.match(c) for c in doc), (
            f"{where}: a code built at run time ({pattern.pattern}) matches no documented code"
        )


def test_every_documented_problem_code_exists() -> None:
    known = set(FOUND.problems.statuses)
    stray = [
        f"{c} (docs/api.md:{r.line})"
        for r in PROBLEM_ROWS
        for c in r.codes
        if c not in known and not any(p.match(c) for p, _s, _w in FOUND.problems.patterns)
    ]
    assert not stray, "documented codes the service never answers: " + ", ".join(stray)


def test_each_status_of_a_code_is_documented() -> None:
    doc = _pairs(PROBLEM_ROWS)
    missing = [
        f"{status} {code} ({FOUND.problems.where[code]})"
        for code, statuses in FOUND.problems.statuses.items()
        for status in statuses
        if status is not None and (status, code) not in doc
    ]
    assert not missing, "a (status, code) the source answers is not in the table: " + ", ".join(
        sorted(missing)
    )
    wrong = [
        f"{r.status} {c} (docs/api.md:{r.line})"
        for r in PROBLEM_ROWS
        for c in r.codes
        if None not in FOUND.problems.statuses.get(c, {None})
        and r.status not in FOUND.problems.statuses[c]
    ]
    assert not wrong, "documented with a status the source never gives: " + ", ".join(wrong)


def test_the_oauth_errors_are_documented() -> None:
    assert _pairs(OAUTH_ROWS) == {
        (s, c) for c, statuses in FOUND.oauth.statuses.items() for s in statuses
    }


def test_the_field_codes_table_is_field_codes() -> None:
    doc = [c for r in FIELD_ROWS for c in r.codes]
    assert sorted(doc) == sorted(FIELD_CODES), "docs/api.md's errors[].code table"
    assert len(doc) == len(set(doc))


def test_field_errors_use_field_codes_or_a_documented_rule_code() -> None:
    rules = {c for r in PROBLEM_ROWS for c in r.codes}
    stray = {
        c: w for c, w in FOUND.field_codes.where.items() if c not in FIELD_CODES and c not in rules
    }
    assert not stray, "errors[].code values that are neither field codes nor documented: " + (
        ", ".join(f"{c} ({w})" for c, w in sorted(stray.items()))
    )
