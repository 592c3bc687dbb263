"""Request validation against the official spec: the emulator refuses what the spec refuses.

Every ``/v1`` request is checked, before the backend sees it, against the schemas that the
official OpenAPI 3.0 spec (shipped in ``spec/aura_api_spec_v1.yaml``, unchanged) gives its
operation: the JSON body against the request body schema, and the query and path parameters
against their schemas where those constrain anything beyond "a string". A refusal is a 400
``invalid-request`` in the API's error shape with one item per bad field, ``field`` being
the field's JSON path (``memory``, ``algorithm_categories[1]``), or no ``field`` when the
body as a whole is wrong (an array, a string, a number, ``null``).

The checking is done by ``openapi-schema-validator`` (jsonschema with OpenAPI 3.0's
``nullable``, formats and keywords); the spec's ``$ref`` s are resolved with ``referencing``
and inlined once per operation when the validators are compiled (the spec has no recursive
schema; a recursive one would be validated through the registry instead, more slowly).
:func:`request_validator` compiles them once per process; each check then costs tens of
microseconds.

The backend keeps its own, more specific checks (an unknown region, a memory size the
project does not offer, a name with white space around it): the schemas cannot express them.
Where a schema check and a backend check meet (a missing field, a wrong type, a name longer
than 30 characters), the message here uses the backend's words.

Where the spec's request schemas are narrower than the live service, the live service wins,
and each such relaxation is listed in :data:`EXTRA_PROPERTIES` with its reason.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30WriteValidator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from aura_async.emulator.errors import ApiError

if TYPE_CHECKING:
    # Registry.resolver()'s return type; referencing does not export it from its top level.
    from referencing._core import Resolver

__all__ = [
    "EXTRA_PROPERTIES",
    "SPEC_URI",
    "OperationValidator",
    "Problem",
    "RequestInvalid",
    "RequestValidator",
    "load_spec",
    "request_validator",
]

#: The base URI under which the spec is registered, so that its ``#/...`` refs resolve.
SPEC_URI: Final = "urn:aura-api:v1:openapi.yaml"
_SPEC_FILE = ("spec", "aura_api_spec_v1.yaml")
_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
_INVALID = "invalid-request"

#: Properties the live service takes that the spec's request schemas leave out, by
#: operation id. The spec itself uses them in its request examples (BEHAVIOUR.md, "Known
#: inconsistencies in the spec file"), Terraform's provider sends ``storage`` on create, and
#: the PATCH ones set a VDC's secondaries and CDC mode. The spec sets no
#: ``additionalProperties``, so they would pass unchecked anyway: listing them gives them the
#: types of the Instance they end up on (secondaries_count typed ``number`` there, a count
#: here; the ``cdc_enrichment_mode`` values of the Instance schema's enum).
EXTRA_PROPERTIES: Final[Mapping[str, Mapping[str, Mapping[str, Any]]]] = {
    "post-instances": {"storage": {"$ref": "#/components/schemas/InstanceStorage"}},
    "patch-instance-id": {
        "secondaries_count": {"type": "integer"},
        "cdc_enrichment_mode": {"type": "string", "enum": ["OFF", "DIFF", "FULL"]},
    },
}

# Schema keys that only annotate: a parameter whose schema has nothing else than these and
# ``type: string`` accepts every value a URL can carry, so it is not checked at all.
_ANNOTATIONS = frozenset({"description", "example", "title", "default", "deprecated", "nullable"})

# Which error speaks for a field when several keywords fail on it (a null string fails both
# ``type`` and ``enum``; the type says more).
_RANK = {"required": 0, "type": 1, "enum": 2, "format": 3}

_TYPE_WORDS = {
    "string": ("a string", "strings"),
    "integer": ("an integer", "integers"),
    "number": ("a number", "numbers"),
    "boolean": ("a boolean", "booleans"),
    "array": ("a list", "lists"),
    "object": ("a JSON object", "JSON objects"),
}


# ------------------------------------------------------------------------ the spec


try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _SpecLoader(_SafeLoader):
    """YAML as OpenAPI documents mean it: JSON's scalars, nothing more.

    PyYAML reads YAML 1.1, where ``OFF``, ``on``, ``yes`` and ``no`` are booleans and a bare
    date is a timestamp; the spec's ``cdc_enrichment_mode`` enum (``OFF``) and its
    examples' dates must stay strings.
    """


_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@functools.cache
def load_spec() -> Mapping[str, Any]:
    """Return the official spec shipped with the package, parsed (once per process).

    Raises:
        OSError: if the packaged file is missing (a broken install).
        yaml.YAMLError: if it is not YAML.
    """
    resource = importlib.resources.files("aura_async.emulator").joinpath(*_SPEC_FILE)
    text = resource.read_text(encoding="utf-8")
    spec: Mapping[str, Any] = yaml.load(text, _SpecLoader)  # noqa: S506  (a SafeLoader)
    return spec


# ------------------------------------------------------------------- refusals


@attrs.frozen
class Problem:
    """One bad field of a request: what is wrong, and where (None: the body as a whole)."""

    message: str
    field: str | None = None

    def to_json(self) -> dict[str, str]:
        """Return the item of the API's ``errors`` list."""
        item = {"message": self.message, "reason": _INVALID}
        if self.field is not None:
            item["field"] = self.field
        return item


class RequestInvalid(ApiError):
    """A 400 ``invalid-request`` with one error item per bad field of the request."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("a refused request has at least one problem")
        super().__init__(400, problems[0].message, _INVALID, problems[0].field)
        self.problems = tuple(problems)

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        """Return the ``{"errors": [...]}`` body, one item per problem."""
        return {"errors": [problem.to_json() for problem in self.problems]}


def _field(path: Iterable[Any], prefix: str | None = None) -> str | None:
    """Render a path into a JSON document the way the API names fields: ``a.b[2].c``."""
    text = prefix or ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text or None


def _type_words(schema: Mapping[str, Any], plural: bool = False) -> str:
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    words = []
    for name in names:
        singular, many = _TYPE_WORDS.get(str(name), (f"of type {name}", f"values of type {name}"))
        if name == "array" and isinstance(schema.get("items"), Mapping):
            items = schema["items"]
            if "type" in items:
                singular, many = f"a list of {_type_words(items, plural=True)}", "lists"
        words.append(many if plural else singular)
    return " or ".join(words)


def _describe(error: ValidationError, field: str | None) -> str:
    """Say what is wrong with one field, in the words the backend uses for the same fault."""
    subject = field or "The request body"
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.instance
    if keyword == "type":
        if field is None and schema.get("type") == "object":
            return "The request body must be a JSON object"
        words = _type_words(schema)
        return (
            f"{subject} must be {words}, not null"
            if value is None
            else f"{subject} must be {words}"
        )
    if keyword == "enum":
        allowed = error.validator_value if isinstance(error.validator_value, list) else []
        choices = ", ".join(str(choice) for choice in allowed)
        return f"{subject} must be one of {choices}"
    if keyword in ("minLength", "maxLength"):
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None and high is not None:
            return f"{subject} must be between {low} and {high} characters"
        if high is not None:
            return f"{subject} must be at most {high} characters"
        return (
            f"{subject} must not be empty"
            if low == 1
            else f"{subject} must be at least {low} characters"
        )
    if keyword == "format":
        if error.validator_value == "date":
            return f"{subject} must be an ISO date (YYYY-MM-DD); got {value!r}"
        return f"{subject} must be a valid {error.validator_value}; got {value!r}"
    if keyword in ("minimum", "maximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        return f"{subject} must be {bound} {error.validator_value}"
    return f"{subject} is invalid: {error.message}"


def _problems(errors: Iterable[ValidationError], prefix: str | None = None) -> list[Problem]:
    """Turn a validator's errors into one problem per field, the most telling one each."""
    chosen: dict[str | None, tuple[int, Problem]] = {}
    for error in errors:
        parent = list(error.absolute_path)
        required, instance = error.validator_value, error.instance
        if (
            error.validator == "required"
            and isinstance(required, list)
            and isinstance(instance, Mapping)
        ):
            # One error per missing property, named only in the message: find the missing
            # ones from the instance rather than parse the text.
            missing = [name for name in required if name not in instance]
            fields = [_field([*parent, name], prefix) for name in missing]
            candidates = [(field, 0, f"{field} is required") for field in fields]
        else:
            field = _field(parent, prefix)
            rank = _RANK.get(str(error.validator), len(_RANK))
            candidates = [(field, rank, _describe(error, field))]
        for field, rank, message in candidates:
            known = chosen.get(field)
            if known is None or rank < known[0]:
                chosen[field] = (rank, Problem(message, field))
    return [problem for _rank, problem in chosen.values()]


# ------------------------------------------------------------------ compiling


class _Recursive(Exception):
    """A schema refers to itself: it cannot be inlined."""


def _inline(node: Any, resolver: Resolver[Any], seen: frozenset[int] = frozenset()) -> Any:
    """Return ``node`` with every ``$ref`` replaced by what it points at.

    Raises:
        _Recursive: if a ref leads back to a schema it is inside of.
        referencing.exceptions.Unresolvable: if a ref points nowhere.
    """
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            resolved = resolver.lookup(ref)
            # The parsed document's objects are its schemas: meeting one again on the way
            # down is a cycle.
            target = id(resolved.contents)
            if target in seen:
                raise _Recursive(ref)
            return _inline(resolved.contents, resolved.resolver, seen | {target})
        return {key: _inline(value, resolver, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, resolver, seen) for item in node]
    return node


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(_escape(part) for part in parts)


def _compile(registry: Registry[Any], pointer: str, extend: Mapping[str, Any] | None) -> Validator:
    """Build the validator of the schema at ``pointer`` (in the spec), inlined when it can be.

    ``extend`` adds properties to the schema (see :data:`EXTRA_PROPERTIES`).
    """
    resolver = registry.resolver(SPEC_URI)
    extra = _inline(extend or {}, resolver)
    try:
        schema = _inline({"$ref": pointer}, resolver)
        if extra:
            schema = {**schema, "properties": {**schema.get("properties", {}), **extra}}
    except _Recursive:
        # Validated through the registry instead: correct, but each $ref costs a lookup.
        schema = {"$ref": f"{SPEC_URI}{pointer}"}
        if extra:
            schema = {"allOf": [schema], "properties": extra}
    validator: Validator = OAS30WriteValidator(
        schema, registry=registry, format_checker=oas30_format_checker
    )
    return validator


@attrs.frozen
class _Parameter:
    name: str
    location: str  # "query" or "path"
    required: bool
    kind: str  # the schema's type, for reading the text of the URL as that type
    validator: Validator | None  # None: the schema accepts any text


def _read_as(kind: str, text: str) -> Any:
    """Read a parameter's text as its schema's type; text that is not one stays text."""
    try:
        if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


@attrs.frozen
class OperationValidator:
    """The compiled checks of one operation: its parameters and its JSON body."""

    operation_id: str
    parameters: tuple[_Parameter, ...]
    body: Validator | None
    body_required: bool

    def problems(
        self,
        *,
        path_params: Mapping[str, Any],
        query_params: Mapping[str, str],
        body: Any,
        body_sent: bool,
    ) -> list[Problem]:
        """Return what is wrong with a request (an empty list if nothing is).

        ``body`` is the parsed JSON body; ``body_sent`` tells an absent body from a JSON
        ``null`` (both parse to None).
        """
        found: list[Problem] = []
        for parameter in self.parameters:
            source = path_params if parameter.location == "path" else query_params
            text = source.get(parameter.name)
            if text is None:
                if parameter.required:
                    found.append(Problem(f"{parameter.name} is required", parameter.name))
                continue
            if parameter.validator is not None:
                value = _read_as(parameter.kind, str(text))
                if not parameter.validator.is_valid(value):
                    errors = parameter.validator.iter_errors(value)
                    found += _problems(errors, parameter.name)
        if self.body is not None:
            if body_sent:
                # is_valid stops at the first error: the common, valid case costs least.
                if not self.body.is_valid(body):
                    found += _problems(self.body.iter_errors(body))
            elif self.body_required:
                found.append(Problem("The request body is required"))
        return found


def _operation(
    registry: Registry[Any], path: str, method: str, path_item: Mapping[str, Any]
) -> OperationValidator:
    resolver = registry.resolver(SPEC_URI)
    raw: Mapping[str, Any] = path_item[method]
    operation_id = str(raw.get("operationId", f"{method.upper()} {path}"))
    by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    # Path-level parameters first: an operation's own parameter of the same name and place
    # overrides it.
    for node in (*path_item.get("parameters", ()), *raw.get("parameters", ())):
        parameter = _inline(node, resolver)
        by_key[(parameter["name"], parameter["in"])] = parameter
    parameters = []
    for (name, location), parameter in by_key.items():
        if location not in ("path", "query"):
            continue  # headers and cookies are the gateway's business
        schema = parameter.get("schema", {})
        constrained = (
            set(schema) - _ANNOTATIONS - {"type"} or schema.get("type", "string") != "string"
        )
        validator = (
            OAS30WriteValidator(schema, format_checker=oas30_format_checker)
            if constrained
            else None
        )
        required = bool(parameter.get("required", location == "path"))
        parameters.append(_Parameter(name, location, required, str(schema.get("type")), validator))
    body: Validator | None = None
    body_required = False
    request_body = raw.get("requestBody")
    if request_body is not None:
        # A requestBody may itself be a $ref (to components/requestBodies).
        where = request_body.get("$ref") or _pointer("paths", path, method, "requestBody")
        if "$ref" in request_body:
            request_body = resolver.lookup(request_body["$ref"]).contents
        body_required = bool(request_body.get("required", False))
        content = request_body.get("content", {})
        media = next((key for key in content if _is_json(key)), None)
        if media is not None and "schema" in content[media]:
            pointer = f"{where}/content/{_escape(media)}/schema"
            body = _compile(registry, pointer, EXTRA_PROPERTIES.get(operation_id))
    return OperationValidator(operation_id, tuple(parameters), body, body_required)


def _is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestValidator:
    """Every operation of a spec, compiled once; checks a request by its route.

    Args:
        spec: the OpenAPI 3.0 document (by default the official spec shipped with the
            package).

    Raises:
        referencing.exceptions.Unresolvable: if the spec has a ``$ref`` that points nowhere.
    """

    def __init__(self, spec: Mapping[str, Any] | None = None) -> None:
        spec = load_spec() if spec is None else spec
        registry: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec))
        # The server's path prefix (/v1) is where the emulator serves the spec's paths.
        servers = spec.get("servers") or [{"url": ""}]
        prefix = re.sub(r"^[a-z]+://[^/]+", "", str(servers[0].get("url", ""))).rstrip("/")
        self.operations: dict[str, OperationValidator] = {}
        for path, path_item in spec.get("paths", {}).items():
            for method in _METHODS:
                if method in path_item:
                    route = f"{method.upper()} {prefix}{path}"
                    self.operations[route] = _operation(registry, path, method, path_item)

    def validate(
        self,
        route: str,
        *,
        path_params: Mapping[str, Any],
        query_params: Mapping[str, str],
        body: Any,
        body_sent: bool,
    ) -> None:
        """Check one request of ``route`` (``"METHOD /v1/path/{param}"``).

        A route the spec does not have passes unchecked (the emulator's own endpoints).

        Raises:
            RequestInvalid: 400 ``invalid-request``, one item per bad field.
        """
        operation = self.operations.get(route)
        if operation is None:
            return
        found = operation.problems(
            path_params=path_params, query_params=query_params, body=body, body_sent=body_sent
        )
        if found:
            raise RequestInvalid(found)


@functools.cache
def request_validator() -> RequestValidator:
    """Return the validator of the official spec, compiled once per process and shared.

    Compiled validators hold no state, so every app of a test run can share them.

    Raises:
        referencing.exceptions.Unresolvable: if the packaged spec has a dangling ``$ref``.
    """
    return RequestValidator()
