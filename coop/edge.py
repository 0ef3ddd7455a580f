"""The edge: every request's input is checked here, once, before a handler or a query sees it.

A ``before_request`` hook (:func:`check_request`) runs for every route. It

- refuses a body of the wrong media type (415) and a body that is not JSON (400);
- decodes the body **strictly** against the handler's ``data`` type (``"14"`` is not 14) and
  lists every invalid field at once;
- converts every query, path and header parameter the handler declares, naming each by the
  name the client sent (``from``, ``If-Match``), and lists every invalid one at once;
- refuses, in every string anywhere, what PostgreSQL cannot store (NUL), every integer
  beyond int64, every non-finite number and every date outside :data:`FIRST_DAY` ..
  :data:`LAST_DAY`.

Errors speak the API's words: ``errors: [{field, code, detail}]``, where ``field`` is the
JSON field (``child.age``, ``beds[0].label``) or the parameter's name, ``code`` one of
:data:`FIELD_CODES` and ``detail`` a sentence for people. No Python, SQL, regex or library
text reaches a client.

A body that is a list of rows (``POST /bookings/import``) is refused row by row: each error
carries ``row`` (1 = the first item) and names the field inside the row (``child.age``, not
``[0].child.age``). A handler may name its service's own rules on rows (:data:`ROW_RULES`):
when some rows are malformed, the rows that did decode are checked too, so one 422 lists
every bad row.
"""

from __future__ import annotations

import enum
import functools
import math
import re
import types
import typing
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
from litestar import Request
from litestar.enums import ParamType
from litestar.exceptions import HTTPException

from coop.errors import FieldError, Problem, field_problem

#: The calendar the service accepts: nothing a children's home does happens outside it.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2100, 12, 31)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Bodies larger than this are refused with 413 before they are read.
MAX_BODY_BYTES = 4 * 1024 * 1024
JSON = "application/json"

#: ``errors[].code``: what is wrong with one field.
FIELD_CODES: dict[str, str] = {
    "required": "the field is required and was not sent",
    "unknown_field": "the field is not one this operation takes",
    "wrong_type": "the value is of the wrong JSON type (a string where a number belongs...)",
    "not_allowed": "the value is not one of the listed choices",
    "bad_format": "the string is not in the documented format (a slug, a date, a URN...)",
    "too_short": "the string or list is shorter than allowed",
    "too_long": "the string or list is longer than allowed",
    "too_small": "the number or date is below the lowest allowed",
    "too_large": "the number or date is above the highest allowed",
    "nul_character": "the string contains a NUL character (U+0000)",
    "invalid": "the value breaks a rule the detail explains",
}


_fields = functools.cache(msgspec.structs.fields)  # it reads type hints: 70 µs a call

#: A handler's ``opt`` key: for a body that is a list of rows, an async function
#: ``(request, rows) -> list[FieldError]`` checking the service's own rules on ``rows`` (row
#: number -> decoded row), run when other rows of the body are malformed (every bad row is
#: listed at once). The service checks the same rules itself on a well-formed body.
ROW_RULES = "row_rules"


# -- types ---------------------------------------------------------------------------------------


def _unwrap(tp: Any) -> tuple[Any, list[msgspec.Meta]]:
    """``Annotated[T, Meta(...)]`` -> ``(T, [Meta...])``."""
    metas: list[msgspec.Meta] = []
    while get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        metas.extend(m for m in extra if isinstance(m, msgspec.Meta))
    return tp, metas


def _members(tp: Any) -> list[Any]:
    """The alternatives of a union (``T | None``), or ``[tp]``."""
    tp, _ = _unwrap(tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        return list(get_args(tp))
    return [tp]


def _not_null(tp: Any) -> Any:
    """``T | None`` -> ``T`` (a query string or header cannot be JSON null)."""
    members = [m for m in _members(tp) if m is not type(None)]
    if len(members) == len(_members(tp)) or not members:
        return tp
    union = members[0]
    for m in members[1:]:
        union = union | m
    return union


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    for member in _members(tp):
        member, _ = _unwrap(member)
        if isinstance(member, type) and issubclass(member, msgspec.Struct):
            return member
    return None


def _choices(tp: Any) -> list[str]:
    """The allowed values of a Literal or Enum, wherever it sits in ``tp``."""
    found: list[str] = []

    def walk(t: Any) -> None:
        t, _ = _unwrap(t)
        origin = get_origin(t)
        if origin is Literal:
            found.extend(str(a) for a in get_args(t))
        elif isinstance(t, type) and issubclass(t, enum.Enum):
            found.extend(str(m.value) for m in t)
        elif origin is not None:
            for a in get_args(t):
                walk(a)

    walk(tp)
    return found


def _description(tp: Any) -> str | None:
    def walk(t: Any) -> str | None:
        inner, metas = _unwrap(t)
        for meta in metas:
            if meta.description:
                return meta.description
        for a in get_args(inner):
            if (d := walk(a)) is not None:
                return d
        return None

    return walk(tp)


def _leaves(tp: Any) -> set[type]:
    """The scalar types a value of ``tp`` may hold (to find dates among them)."""
    out: set[type] = set()

    def walk(t: Any) -> None:
        t, _ = _unwrap(t)
        if isinstance(t, type) and get_origin(t) is None:
            out.add(t)
        for a in get_args(t):
            walk(a)

    walk(tp)
    return out


# -- msgspec's messages in the API's words ---------------------------------------------------------

_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_EXPECTED_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_BOUND = re.compile(r"^Expected `(?P<what>\w+)`(?: of length)? (?P<op>[<>]=?) (?P<n>[-\d.e+]+)$")
_FIELD_NAMED = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<f>.+)`$")


def _words(types_text: str) -> str:
    parts = [_TYPE_WORDS.get(p.strip(), p.strip()) for p in types_text.split("|")]
    return " or ".join(parts)


def _join(prefix: str, suffix: str) -> str:
    """``child`` + ``.age`` -> ``child.age``; ``""`` + ``.notes`` -> ``notes``."""
    path = prefix + suffix
    return path[1:] if path.startswith(".") else path


def translate(message: str, tp: Any, prefix: str) -> FieldError:
    """One msgspec validation message -> a :class:`FieldError` in the API's words."""
    m = _AT.match(message)
    text, suffix = (m.group("message"), m.group("path") or "") if m else (message, "")
    field = _join(prefix, suffix) or "body"
    if named := _FIELD_NAMED.match(text):
        field = _join(field if field != "body" else "", "." + named.group("f"))
        if named.group("what") == "missing required":
            return FieldError(field, "required", "is required.")
        return FieldError(field, "unknown_field", "is not a field this operation takes.")
    if t := _EXPECTED_TYPE.match(text):
        return FieldError(
            field,
            "wrong_type",
            f"must be {_words(t.group('want'))}, not {_words(t.group('got'))}.",
        )
    if b := _BOUND.match(text):
        what, op, n = b.group("what"), b.group("op"), b.group("n")
        sized = what in ("str", "array", "object")
        one = n == "1" and op in ("<=", ">=")
        unit = {"str": " character", "array": " item", "object": " field"}.get(what, "")
        unit = unit if one or not unit else unit + "s"
        if op.startswith("<"):
            limit = n if op == "<=" else f"less than {n}"
            code = "too_long" if sized else "too_large"
            return FieldError(field, code, f"must be at most {limit}{unit}.")
        limit = n if op == ">=" else f"more than {n}"
        code = "too_short" if sized else "too_small"
        return FieldError(field, code, f"must be at least {limit}{unit}.")
    if text.startswith("Invalid enum value"):
        allowed = _choices(tp)
        listed = f": one of {', '.join(allowed)}" if allowed else ""
        return FieldError(field, "not_allowed", f"is not an allowed value{listed}.")
    if "matching regex" in text:
        desc = _description(tp)
        return FieldError(
            field, "bad_format", f"is not in the expected format{': ' + desc if desc else ''}."
        )
    if "RFC3339 encoded date" in text and "datetime" not in text:
        return FieldError(field, "bad_format", "must be a date, YYYY-MM-DD.")
    if "RFC3339 encoded datetime" in text:
        return FieldError(
            field, "bad_format", "must be a date and time with a UTC offset (RFC 3339)."
        )
    if "out of range" in text.lower():
        return FieldError(field, "too_large", "is out of range.")
    return FieldError(field, "invalid", "is not valid.")


# -- the checks ------------------------------------------------------------------------------------


def _scan(value: Any, path: str, out: list[FieldError]) -> None:
    """What no field may hold, whatever its type: NUL, int64 overflow, non-finite numbers."""
    if isinstance(value, str):
        if "\x00" in value:
            out.append(
                FieldError(path or "body", "nul_character", "must not contain a NUL character.")
            )
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            out.append(FieldError(path or "body", "too_large", "is out of range."))
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.append(FieldError(path or "body", "too_large", "must be a finite number."))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                out.append(
                    FieldError(path or "body", "nul_character", "must not contain a NUL character.")
                )
                continue
            _scan(item, _join(path, f".{key}"), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _scan(item, f"{path}[{i}]", out)


def _calendar(value: Any, tp: Any, path: str, out: list[FieldError]) -> None:
    """Every date (and date-time) within :data:`FIRST_DAY` .. :data:`LAST_DAY`."""
    if not ({date, datetime} & _leaves(tp)):
        return
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, list):
        inner = [a for a in get_args(_unwrap(tp)[0]) if a is not type(None)] or [Any]
        for i, item in enumerate(value):
            _calendar(item, inner[0], f"{path}[{i}]", out)
        return
    else:
        return
    if day < FIRST_DAY:
        out.append(FieldError(path, "too_small", f"must be on or after {FIRST_DAY.isoformat()}."))
    elif day > LAST_DAY:
        out.append(FieldError(path, "too_large", f"must be on or before {LAST_DAY.isoformat()}."))


def _typed(value: Any, tp: Any, path: str, strict: bool, out: list[FieldError]) -> Any:
    """Convert ``value`` to ``tp``, recording every error (not just msgspec's first)."""
    struct = _struct_of(tp)
    if struct is not None and isinstance(value, dict):
        found: list[FieldError] = []
        config = struct.__struct_config__
        fields = _fields(struct)
        names = {f.encode_name for f in fields}
        for f in fields:
            where = _join(path, f".{f.encode_name}")
            if f.encode_name in value:
                _typed(value[f.encode_name], f.type, where, strict, found)
            elif f.required:
                found.append(FieldError(where, "required", "is required."))
        if config.forbid_unknown_fields:
            for key in value:
                if key not in names:
                    found.append(
                        FieldError(
                            _join(path, f".{key}"),
                            "unknown_field",
                            "is not a field this operation takes.",
                        )
                    )
        if found:
            out.extend(found)
            return None
    inner, _ = _unwrap(tp)
    if get_origin(inner) is list and isinstance(value, list):
        (item_tp,) = get_args(inner) or (Any,)
        if _struct_of(item_tp) is not None:
            found = []
            for i, item in enumerate(value):
                _typed(item, item_tp, f"{path}[{i}]", strict, found)
            if found:
                out.extend(found)
                return None
    try:
        converted = msgspec.convert(value, tp, strict=strict)
    except msgspec.ValidationError as exc:
        out.append(translate(str(exc), tp, path))
        return None
    if not isinstance(converted, msgspec.Struct):
        _scan(converted, path, out)  # a query string's "9223372036854775808" is an int now
    _calendar(converted, tp, path, out)
    return converted


def _whole(value: Any) -> Any:
    """Every float with no fraction as an int (JSON Schema counts ``17.0`` as an integer)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return value


def _walk(obj: Any, path: str, out: list[FieldError]) -> None:
    """The bounds of :func:`_scan` and :func:`_calendar`, on an already converted value."""
    if isinstance(obj, msgspec.Struct):
        cls = type(obj)
        for name, encoded in zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True):
            _walk(getattr(obj, name), _join(path, f".{encoded}"), out)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, item in enumerate(obj):
            _walk(item, f"{path}[{i}]", out)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            _scan(key, path, out)
            _walk(item, _join(path, f".{key}"), out)
    elif isinstance(obj, (date, datetime)):
        day = obj.date() if isinstance(obj, datetime) else obj
        if not FIRST_DAY <= day <= LAST_DAY:
            _calendar(obj, type(obj), path or "body", out)
    else:
        _scan(obj, path, out)


def check_value(value: Any, tp: Any, *, path: str = "", strict: bool = True) -> list[FieldError]:
    """Every error in ``value`` as ``tp`` (empty when it converts and is within bounds).

    The common case, a valid value, costs one conversion and one walk; only an invalid one
    is taken apart field by field to list every error.
    """
    out: list[FieldError] = []
    try:
        converted = msgspec.convert(value, tp, strict=strict)
    except msgspec.ValidationError:
        value = _whole(value)  # JSON has one number type: 17.0 is the integer 17
        try:
            converted = msgspec.convert(value, tp, strict=strict)
        except msgspec.ValidationError:
            pass
        else:
            _walk(converted, path, out)
            return out
    else:
        _walk(converted, path, out)
        return out
    _scan(value, path, out)
    typed: list[FieldError] = []
    _typed(value, tp, path, strict, typed)
    for e in typed:
        if e.field not in {o.field for o in out}:
            out.append(e)
    return out


def row_type(tp: Any) -> Any | None:
    """The row type of a body that is a list of Structs (rows), else ``None``."""
    inner, _ = _unwrap(tp)
    if get_origin(inner) is not list:
        return None
    (item,) = get_args(inner) or (Any,)
    return item if _struct_of(item) is not None else None


_ROW = re.compile(r"^\[(?P<index>\d+)\](?:\.(?P<field>.+)|(?P<nested>\[.+))?$", re.S)


def by_row(errors: list[FieldError]) -> list[FieldError]:
    """Errors of a list body with their ``row`` (1-based): ``[2].child.age`` is row 3,
    ``child.age``; an item that is not an object at all is row 3, field ``row``."""
    out = []
    for e in errors:
        m = _ROW.match(e.field)
        if m is None or e.row is not None:
            out.append(e)
            continue
        field = m.group("field") or m.group("nested") or "row"
        out.append(FieldError(field, e.code, e.detail, row=int(m.group("index")) + 1))
    return out


async def _row_errors(request: Request, value: Any, tp: Any) -> list[FieldError]:
    """Every error of a list body, by row; with the handler's :data:`ROW_RULES`, the rules of
    the rows that decoded too (unless the body as a whole is wrong: too many rows...)."""
    errors = by_row(check_value(value, tp))
    rules = request.route_handler.opt.get(ROW_RULES)
    if not errors or rules is None or not isinstance(value, list):
        return errors
    if any(e.row is None for e in errors):
        return errors
    item, bad = row_type(tp), {e.row for e in errors}
    good = {
        n: msgspec.convert(v, item, strict=True)
        for n, v in enumerate(value, start=1)
        if n not in bad
    }
    more = await rules(request, good) if good else []
    return sorted([*errors, *more], key=lambda e: e.row or 0)


def decode_json(raw: bytes) -> Any:
    """JSON text -> Python values, or a 400 ``malformed_body``."""
    if not raw.strip():
        raise Problem(400, "malformed_body", "The request body is empty: send a JSON document.")
    try:
        return msgspec.json.decode(raw)
    except RecursionError:
        raise Problem(400, "malformed_body", "The request body is nested too deeply.") from None
    except msgspec.ValidationError:
        raise Problem(
            400, "malformed_body", "The request body holds a number out of range."
        ) from None
    except msgspec.DecodeError:
        raise Problem(400, "malformed_body", "The request body is not valid JSON.") from None


def decode_as(raw: bytes, tp: Any) -> Any:
    """A JSON body strictly as ``tp``: a 400 if it is not JSON, a 422 listing every bad field."""
    value = _whole(decode_json(raw))
    errors = check_value(value, tp)
    if errors:
        raise field_problem(errors)
    return msgspec.convert(value, tp, strict=True)


# -- the hook ------------------------------------------------------------------------------------

#: parameters Litestar fills itself: never the client's
_RESERVED = {"request", "state", "scope", "headers", "query", "cookies", "body", "socket"}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _check_body(request: Request, tp: Any, expected: str, optional: bool) -> None:
    try:
        raw = await request.body()
    except HTTPException as exc:  # 413 from Litestar's size limit
        if exc.status_code == 413:
            raise Problem(
                413,
                "body_too_large",
                f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB.",
                title="Body too large",
            ) from None
        raise
    if optional and not raw.strip():
        return  # an optional body may be left out
    if raw.strip() and _media_type(request) != expected:
        raise Problem(
            415,
            "unsupported_media_type",
            f"Send the body as {expected}.",
            title="Unsupported media type",
        )
    if row_type(tp) is None:
        decode_as(raw, tp)
        return
    errors = await _row_errors(request, _whole(decode_json(raw)), tp)
    if errors:
        raise field_problem(errors)


class _Parameter(msgspec.Struct, frozen=True):
    name: str
    label: str
    where: str  # path, header, query
    tp: Any
    many: bool
    required: bool


_PARAMETERS: dict[int, list[_Parameter]] = {}


def _declared(handler: Any) -> list[_Parameter]:
    """The client's parameters of a handler, worked out once per handler."""
    found = _PARAMETERS.get(id(handler))
    if found is not None:
        return found
    model = handler.signature_model
    dependencies = model._dependency_name_set
    parsed = model._fields
    path_names = {n for path in handler.paths for n in re.findall(r"{(\w+)", path)}
    found = []
    for f in _fields(model):
        name = f.name
        if name in dependencies or name in _RESERVED or name == "data":
            continue
        definition = parsed.get(name)
        kwarg = getattr(definition, "kwarg_definition", None)
        tp = getattr(definition, "raw", f.type)  # Litestar's own copy drops nested constraints
        where = getattr(kwarg, "param_type", ParamType.QUERY)
        if where == ParamType.COOKIE:
            continue
        label = getattr(kwarg, "name", None) or name
        if where == ParamType.PATH or name in path_names:
            kind = "path"
        else:
            kind = "header" if where == ParamType.HEADER else "query"
        many = any(get_origin(_unwrap(m)[0]) is list for m in _members(tp))
        if kind != "path":
            tp = _not_null(tp)  # absent is None; the text "null" is just text
        found.append(_Parameter(name, label, kind, tp, many, f.required))
    _PARAMETERS[id(handler)] = found
    return found


def _parameters(request: Request) -> list[FieldError]:
    path_params = request.path_params
    errors: list[FieldError] = []
    for p in _declared(request.route_handler):
        if p.where == "path" or p.name in path_params:
            # The router has typed it already ({id:str}, {file:path}): only NUL is left.
            _scan(str(path_params.get(p.name, "")), p.name, errors)
            continue
        if p.where == "header":
            raw: Any = request.headers.get(p.label)
        else:
            values = request.query_params.getall(p.label, [])
            raw = values if p.many and values else (values[-1] if values else None)
        if raw is None:
            if p.required:
                errors.append(FieldError(p.label, "required", "is required."))
            continue
        errors.extend(check_value(raw, p.tp, path=p.label, strict=False))
    return errors


async def check_request(request: Request) -> None:
    """The ``before_request`` hook: parameters and body, checked before the handler runs."""
    handler = request.route_handler
    if handler.signature_model is None:  # pragma: no cover - every route has one
        return
    errors = _parameters(request)
    parsed = handler.signature_model._fields
    body = parsed.get("data")
    if body is not None and request.method in ("POST", "PUT", "PATCH"):
        expected = handler.opt.get("media_type", JSON)
        tp = body.annotation
        if row_type(tp) is not None:  # Litestar's annotation drops the list's bounds
            tp = getattr(body, "raw", tp)
        try:
            await _check_body(request, tp, expected, body.has_default)
        except Problem as exc:
            if exc.status != 422 or not errors:
                raise
            errors.extend(FieldError(**e) for e in exc.extra["errors"])
    if errors:
        raise field_problem(errors)
