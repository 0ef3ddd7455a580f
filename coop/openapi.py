"""The OpenAPI document, finished: what Litestar cannot read off a handler's signature.

Litestar builds the paths and schemas; :func:`finish` then, once, at start-up:

- declares each operation's security from its guards (OAuth 2.0 client credentials, the
  scope it needs; none on the public paths);
- replaces Litestar's default 400 shape with the problem responses the operation really
  returns (one shared ``Problem`` schema, ``application/problem+json``);
- declares the headers: ``Idempotency-Key``, ``If-Match``, ``ETag``,
  ``Idempotent-Replayed``, ``Retry-After``, ``WWW-Authenticate``;
- documents ``POST /oauth/token``'s form body and its RFC 6749 errors;
- names schemas without module paths, describes every schema, sets
  ``additionalProperties: false`` where unknown fields are refused, and writes each query
  parameter's bounds as the edge (``coop.edge``) enforces them;
- adds the OpenAPI links of :mod:`coop.openapi_links`.

Handlers say what only they know through :func:`api` (their ``opt``).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
import types
import typing
from typing import Any, get_args, get_origin

import msgspec
from litestar import Litestar

from coop.auth.principal import SCOPE_SET
from coop.edge import FIELD_CODES, _unwrap
from coop.errors import PROBLEM_JSON

OAUTH = "oauth2"
TOKEN_URL = "/oauth/token"

SCOPES: dict[str, str] = {
    "market:read": "search voids, read homes, read your own bookings",
    "homes:write": "your homes, beds and voids; accept, reject and start offers on your beds",
    "bookings:write": "request beds; withdraw, cancel and end your own bookings",
    "finance:read": "your invoices and statements",
    "reports:read": "reports of your authority (region-level clients: the region's aggregates)",
    "coop:admin": "authorities, clients, policy and settlement runs of your region",
}
assert set(SCOPES) == set(SCOPE_SET), "every scope is described"

#: What each problem status means here (the ``description`` of its response).
STATUS_MEANING: dict[int, str] = {
    400: "`malformed_body`: the body is not JSON (or is empty, or nested too deeply).",
    401: "`missing_token`, `invalid_token`, `token_expired`, `client_revoked`: send a valid "
    "bearer token.",
    403: "`insufficient_scope`, `forbidden`, `not_owner`, `other_region`, "
    "`unknown_authority`: the token may not do this.",
    404: "`not_found`: no such resource that you can see.",
    409: "A conflict with the resource's state (`invalid_transition`, `duplicate_label`, "
    "`overlap`, `version_conflict`, `idempotency_key_in_use`...): read it again.",
    412: "`precondition_failed`: the `If-Match` version is not the current one.",
    413: "`body_too_large`: the body is larger than 4 MiB.",
    415: "`unsupported_media_type`: send the body as the documented media type.",
    422: "`validation_error` (or a rule's own code): `errors` lists every invalid field.",
    428: "`precondition_required`: say which version you change (`If-Match` or `version`).",
    503: "`busy`: another request is changing the same thing; retry after `Retry-After`.",
}

#: ``Problem``: RFC 9457 problem details, as every error of the API is answered.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable; `detail` is for people. "
    "A 422 lists every invalid field in `errors`.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "The problem type's URI."},
        "title": {"type": "string", "description": "A short summary of the problem type."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "code": {"type": "string", "description": "Stable machine code (see docs/api.md)."},
        "instance": {"type": "string", "description": "The path the problem arose on."},
        "errors": {
            "type": "array",
            "description": "Every invalid field, at once.",
            "items": {"$ref": "#/components/schemas/FieldError"},
        },
    },
    "additionalProperties": True,  # some problems carry facts, e.g. `current_version`
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One invalid field: its JSON name (or parameter name), a code, a sentence; "
    "in a body that is a list of rows (`POST /bookings/import`), the row too.",
    "required": ["field", "code", "detail"],
    "properties": {
        "row": {
            "type": "integer",
            "minimum": 1,
            "description": "The row of a list body the field belongs to (1 = the first "
            "item); absent when the body is not a list of rows.",
        },
        "field": {
            "type": "string",
            "description": "e.g. `child.age`, `beds[0].label`, `from` (in a row: the field "
            "inside the row, or `row` for the whole row)",
        },
        "code": {
            "type": "string",
            "description": "One of: "
            + ", ".join(f"`{c}`" for c in FIELD_CODES)
            + " — or a rule's own code.",
        },
        "detail": {"type": "string"},
    },
    "additionalProperties": False,
}
OAUTH_ERRORS = ["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"]
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error response (it carries the problem-details fields too).",
    "required": ["error", "error_description"],
    "properties": {
        "error": {"type": "string", "enum": OAUTH_ERRORS},
        "error_description": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": OAUTH_ERRORS},
    },
}
TOKEN_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §4.4 client credentials grant. Authenticate with HTTP Basic "
    "(`client_secret_basic`) or with `client_id` and `client_secret` here "
    "(`client_secret_post`), not both.",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {
            "type": "string",
            "description": "Space-separated; a subset of the client's scopes (default: all).",
        },
        "client_id": {"type": "string", "maxLength": 1000},
        "client_secret": {"type": "string", "maxLength": 1000},
    },
}

HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The version of the resource, e.g. `"3"`: send it back in `If-Match`.',
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored first response to a repeated "
        "`Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": "The authentication scheme (`Bearer`) and, for a missing scope, "
        '`error="insufficient_scope"` and the scope.',
        "schema": {"type": "string"},
    },
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key and body get the first response back "
    "(`Idempotent-Replayed: true`); the same key with another body is a 422. 1–255 "
    "printable characters, scoped to your authority.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The `ETag` you read, e.g. `"3"`: a stale one is 412. Without it, send '
    "`version` in the body (stale: 409); with neither, 428.",
    "schema": {"type": "string", "maxLength": 40, "pattern": '^(W/)?"?[0-9]{1,18}"?$'},
}


def api(
    *,
    problems: tuple[int, ...] = (),
    idempotent: bool = False,
    if_match: bool = False,
    etag: bool = False,
    any_scope: tuple[str, ...] = (),
    media_type: str | None = None,
    enums: dict[str, Any] | None = None,
    csv: bool = False,
    csv_only: bool = False,
) -> dict[str, Any]:
    """A handler's ``opt``: what its OpenAPI operation must say beyond its signature.

    ``problems``: statuses its service answers besides the ones every operation of its
    kind has (401/403 for a guarded one, 404 with a path id, 400/413/415/422 with a body,
    422 with parameters). ``any_scope``: any one of these scopes will do (the service
    decides). ``media_type``: the body's media type (default JSON; checked by the edge).
    ``enums``: list parameters taken as free text (``needs=a,b``) whose items are codes of
    this ``Literal``. ``csv``: its 200 answer is also ``text/csv`` (``Accept: text/csv``);
    ``csv_only``: it is only ``text/csv``.
    """
    opt: dict[str, Any] = {
        "problems": problems,
        "idempotent": idempotent,
        "if_match": if_match,
        "etag": etag,
        "any_scope": any_scope,
        "enums": enums or {},
        "csv": csv or csv_only,
        "csv_only": csv_only,
    }
    if media_type:
        opt["media_type"] = media_type
    return opt


# -- finishing -------------------------------------------------------------------------------------


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_MEANING[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in (503, 409):
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    if status in (401, 403):
        response["headers"] = {
            "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}
        }
    return response


def _scopes(handler: Any) -> list[str]:
    found: list[str] = []
    for layer in handler.ownership_layers:
        for guard in getattr(layer, "guards", None) or ():
            found.extend(getattr(guard, "scopes", ()))
    return found


_PAGE = re.compile(r"^Page_(?:[\w]+\.)*(?P<name>\w+?)(?:Out)?_$")


def _rename_schemas(doc: dict[str, Any]) -> None:
    """``Page_coop.bookings.schemas.BookingOut_`` -> ``BookingPage``, refs and all."""
    schemas = doc["components"]["schemas"]
    renames = {}
    for name in list(schemas):
        if m := _PAGE.match(name):
            renames[name] = f"{m.group('name')}Page"
    for old, new in renames.items():
        schema = schemas.pop(old)
        schema["description"] = f"One page of results; pass `next_cursor` to get the next. ({new})"
        schemas[new] = schema

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name in renames:
                    node["$ref"] = f"#/components/schemas/{renames[name]}"
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    fix(doc)


def _structs() -> dict[str, type[msgspec.Struct]]:
    found: dict[str, type[msgspec.Struct]] = {}
    stack: list[type] = [msgspec.Struct]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("coop."):
                found.setdefault(sub.__name__, sub)
    return found


def _field_docs(struct: type[msgspec.Struct]) -> dict[str, str]:
    """The attribute docstrings of a Struct (``x: int`` then ``\"\"\"What x is.\"\"\"``)."""
    docs: dict[str, str] = {}
    for cls in reversed(struct.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)) or cls is msgspec.Struct:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _describe_schemas(doc: dict[str, Any]) -> None:
    structs = _structs()
    for name, schema in doc["components"]["schemas"].items():
        struct = structs.get(name)
        if struct is None:
            continue
        if not schema.get("description"):
            text = inspect.getdoc(struct)
            if text and not text.startswith(("Struct(", "A base class")):
                schema["description"] = text
        properties = schema.get("properties", {})
        encode = {f.name: f.encode_name for f in msgspec.structs.fields(struct)}
        for field, text in _field_docs(struct).items():
            prop = properties.get(encode.get(field, field))
            if isinstance(prop, dict) and not prop.get("description"):
                prop["description"] = text
        if struct.__struct_config__.forbid_unknown_fields and schema.get("type") == "object":
            schema["additionalProperties"] = False


def _param_schema(tp: Any) -> dict[str, Any] | None:
    """A query parameter's schema as the edge checks it (its bounds included)."""
    members = [tp]
    inner, _ = _unwrap(tp)
    if get_origin(inner) in (typing.Union, types.UnionType):
        members = [a for a in get_args(inner) if a is not type(None)]
    if len(members) != 1:
        return None
    try:
        schema = msgspec.json.schema(members[0])
    except (TypeError, ValueError):
        return None
    if "$ref" in schema or "$defs" in schema:
        return None
    return schema


def finish(app: Litestar, links: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
    """Complete the OpenAPI document Litestar generated (in place, once)."""
    from litestar._openapi.plugin import OpenAPIPlugin

    plugin = app.plugins.get(OpenAPIPlugin)
    doc = plugin.provide_openapi_schema()
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    schemas["TokenRequest"] = TOKEN_REQUEST_SCHEMA
    components["headers"] = HEADERS
    components["securitySchemes"] = {
        OAUTH: {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials (RFC 6749 §4.4); the access token is "
            "an RFC 9068 JWT, sent as `Authorization: Bearer <token>`.",
            "flows": {"clientCredentials": {"tokenUrl": TOKEN_URL, "scopes": SCOPES}},
        }
    }
    doc.pop("security", None)

    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not handler.resolve_include_in_schema():
                continue
            path = route.path_format or "/"
            for method in handler.http_methods:
                op = doc["paths"].get(path, {}).get(method.lower())
                if op is not None:
                    _finish_operation(op, handler, route, method)

    _token_operation(doc["paths"][TOKEN_URL]["post"])
    _rename_schemas(doc)
    _describe_schemas(doc)
    _calendar(doc)
    for op_id, by_status in (links or {}).items():
        for op in _operations(doc):
            if op.get("operationId") == op_id:
                for status, named in by_status.items():
                    response = op["responses"].get(status)
                    if response is not None:
                        response["links"] = named


#: ``coop.edge.FIRST_DAY`` .. ``LAST_DAY`` as a pattern: JSON Schema cannot bound a date.
CALENDAR = "^(19[0-9]{2}|20[0-9]{2}|2100)-"


def _calendar(node: Any) -> None:
    """Every date and date-time the document shows carries the edge's calendar."""
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") in ("date", "date-time"):
            node.setdefault("pattern", CALENDAR)
        for value in node.values():
            _calendar(value)
    elif isinstance(node, list):
        for value in node:
            _calendar(value)


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)]


def _finish_operation(op: dict[str, Any], handler: Any, route: Any, method: str) -> None:
    from coop.auth.guards import PUBLIC_OPT

    opt = handler.opt
    op.setdefault("description", op.get("summary", ""))
    responses: dict[str, Any] = op["responses"]
    responses.pop("400", None)  # Litestar's own ValidationException shape: never ours
    public = bool(opt.get(PUBLIC_OPT))
    statuses: set[int] = set(opt.get("problems", ()))
    if public:
        op["security"] = []
    else:
        any_scope = opt.get("any_scope") or ()
        needed = _scopes(handler)
        if any_scope:
            op["security"] = [{OAUTH: [s]} for s in any_scope]
        else:
            op["security"] = [{OAUTH: needed}]
        statuses.add(401)
        if needed or any_scope:
            statuses.add(403)
    fields = handler.signature_model._fields if handler.signature_model else {}
    params = [n for n in fields if n not in handler.signature_model._dependency_name_set]
    params = [n for n in params if n not in ("request", "data")]
    if route.path_parameters:
        statuses.add(404)
    if params or route.path_parameters:
        statuses.add(422)
    if "data" in fields:
        statuses |= {400, 413, 415, 422}
        media = opt.get("media_type")
        body = op.get("requestBody", {}).get("content", {})
        if media and "application/json" in body:
            body[media] = body.pop("application/json")
        _list_bounds(body, getattr(fields["data"], "raw", None))
    for status in sorted(statuses):
        responses.setdefault(str(status), _problem(status))
    parameters: list[dict[str, Any]] = op.setdefault("parameters", [])
    if opt.get("idempotent"):
        parameters.append(dict(IDEMPOTENCY_KEY))
        responses.setdefault("409", _problem(409))
        for code, response in responses.items():
            if code.startswith("2"):
                response.setdefault("headers", {})["Idempotent-Replayed"] = {
                    "$ref": "#/components/headers/Idempotent-Replayed"
                }
    if opt.get("if_match"):
        parameters.append(dict(IF_MATCH))
        for status in (409, 412, 428):
            responses.setdefault(str(status), _problem(status))
    if opt.get("csv") and "200" in responses:
        if opt.get("csv_only"):
            responses["200"]["content"] = {}
        responses["200"].setdefault("content", {})["text/csv"] = {
            "schema": {
                "type": "string",
                "description": "With `Accept: text/csv`: a header row, then one row per line; "
                "pence as integers.",
            }
        }
    if opt.get("etag"):
        for code, response in responses.items():
            if code.startswith("2"):
                response.setdefault("headers", {})["ETag"] = {"$ref": "#/components/headers/ETag"}
    _param_bounds(parameters, handler)
    for parameter in parameters:
        codes = opt.get("enums", {}).get(parameter["name"])
        if codes is not None:
            parameter["schema"] = {
                "type": "array",
                "items": {"type": "string", "enum": list(get_args(codes))},
            }
            parameter["explode"] = True
    if not parameters:
        op.pop("parameters")
    op["responses"] = dict(sorted(responses.items()))


def _list_bounds(content: dict[str, Any], raw: Any) -> None:
    """A list body's bounds (``minItems``, ``maxItems``), which Litestar leaves out."""
    metas = [m for m in get_args(raw)[1:] if isinstance(m, msgspec.Meta)] if raw else []
    for media in content.values():
        schema = media.get("schema", {})
        if schema.get("type") != "array":
            continue
        for meta in metas:
            if meta.min_length is not None:
                schema["minItems"] = meta.min_length
            if meta.max_length is not None:
                schema["maxItems"] = meta.max_length
            if meta.description and "description" not in schema:
                schema["description"] = meta.description


def _param_bounds(parameters: list[dict[str, Any]], handler: Any) -> None:
    fields = handler.signature_model._fields if handler.signature_model else {}
    by_name: dict[str, Any] = {}
    for name, definition in fields.items():
        kwarg = getattr(definition, "kwarg_definition", None)
        by_name[getattr(kwarg, "name", None) or name] = definition
    for parameter in parameters:
        if parameter.get("in") not in ("query", "path", "header"):
            continue
        definition = by_name.get(parameter["name"])
        if definition is None:
            continue
        schema = _param_schema(getattr(definition, "raw", definition.annotation))
        if schema is None:
            continue
        old = parameter.get("schema", {})
        if "description" in old:
            schema.setdefault("description", old["description"])
        if "default" in old:
            schema["default"] = old["default"]
        parameter["schema"] = schema
        parameter.pop("allowEmptyValue", None)
        parameter.pop("allowReserved", None)


def _token_operation(op: dict[str, Any]) -> None:
    op["requestBody"] = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/TokenRequest"}
            }
        },
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
    op["responses"]["400"] = {
        "description": "`invalid_request`, `unsupported_grant_type` or `invalid_scope` "
        "(RFC 6749 §5.2).",
        "content": error,
    }
    op["responses"]["401"] = {
        "description": "`invalid_client`: unknown client, wrong secret or no client "
        "authentication (RFC 6749 §5.2).",
        "content": error,
        "headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}},
    }
    op["responses"] = dict(sorted(op["responses"].items()))


__all__ = ["api", "finish"]
