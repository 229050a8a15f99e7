"""OpenAPI validation of every platform request against the vendors' own specs.

The four vendor specs live in ``../shared/specs/`` beside the repository (the
repository is always checked out with ``../shared`` next to it); the
environment variable ``SANDBOX_SPECS_DIR`` points elsewhere. They are read,
patched and compiled **once per process** (``load_specs``, cached per
directory; JSON Schema validators are built once per schema):

- ``powernaut-partner-api.openapi.yml`` (OpenAPI 3.0, paths under ``/v1``);
- ``energy-coordination-api.swagger.json`` (OpenAPI 3.0.1, paths relative to
  ``/energy-coordination/v1``);
- ``flexmeasures-api.openapi.json`` (OpenAPI 3.1, paths under ``/api``);
- ``energy-coordination-webhook.openapi.yaml``: the receiver's side of the
  Energy Coordination webhooks. Its ``EventNotification`` is a ``$ref`` to the
  service's published swagger URL; the loader points it at the local copy.
  The sandbox *sends* these requests, so they are not checked at run time:
  ``validate_webhook_notification`` lets tests check what the sandbox sends.

**What is checked** (``RequestValidator.check``, called by the server's
middleware for every platform request, before the handler and whether or not
an injected fault answers it): the operation is found from the aiohttp route
that matched (method and path template; ``HEAD`` as ``GET``; the old path
spellings in ``PATH_ALIASES`` as their spec path), then its path, query and
header parameters (type, format, enum, bounds, required) and the JSON request
body (media type, schema, formats: ``date-time``, ``uuid``, ``int32``,
``duration``…) are validated with ``openapi-core``. Query parameters the spec
does not declare are not its business (the handlers refuse those the
services refuse). A request that fails is recorded as a violation (reason
``OpenAPI <METHOD> <spec path>: body.power.active.maximum: '7,4' does not
match ...; ...``), the handler does not run, and the answer is the
platform's own envelope:

- Powernaut: 400 ``{"message": [...], "error": "Bad Request", "status_code": 400}``;
- Energy Coordination: 400 as the operation documents it —
  ``application/problem+json`` (``HttpValidationProblemDetails``, ``errors``
  keyed by ``$.json.path`` or the parameter name) where the spec says so,
  documents no 400, or for the simulation routes (as their handlers answer
  shape errors); a bare JSON string where the spec's 400 is ``type: string``;
- FlexMeasures: **422** ``{"message": {"json"|"query"|"path"|
  "combined_sensor_data_description": {field: [msgs], nested: {"0": ...}}},
  "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}`` in marshmallow's
  words — FlexMeasures (webargs) answers every schema error so
  (platform-apis.md §3.1; §5 for ``requestAuthToken``); ``REJECT_STATUS``.

Authentication comes first, as at the services: a secured operation called
without valid credentials is left to the handler (401, not a violation),
unchecked. Security requirements themselves are not validated here, so the
§5 notes "the Bearer scheme is case-insensitive" and "FlexMeasures'
Authorization header is the bare token" live in the handlers; header
parameters named ``Authorization`` are dropped from the specs for the same
reason. FlexMeasures ignores a body that is not JSON (webargs): such a body
is validated as absent. Bodies over ``MAX_BODY_BYTES`` (3 MiB, FlexMeasures'
limit) are left to the handler (413). Responses are not validated at run
time; the response errata below are applied all the same, so the loaded
specs are the corrected contract.

**Errata** (``ERRATA``): the mistakes platform-apis.md §5 lists, each a small
patch of the loaded document saying what the spec says and what the service
does, applied in this one place; ``ERRATA_ELSEWHERE`` lists the §5 items that
are behaviour rather than request schema, and where they live.
**Documented behaviour** (``DOCUMENTED_BEHAVIOUR``): corrections from the
docs beyond §5 — none (the spec's non-nullable fields hold). **Sandbox rules** (``SANDBOX_RULES``):
where the sandbox knowingly is stricter than a spec because the service is.
**Not validated** (``UNVALIDATED_ROUTES``): sandbox routes that no vendor
spec describes. **Waivers** (``WAIVERS``): requests
the validation must let through, each with its reason — none today.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
import copy
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
import functools
import json
import logging
import os
from pathlib import Path
import re
from typing import Any, cast
import warnings

from aiohttp import web
from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from jsonschema_path import SchemaPath
from multidict import CIMultiDict, MultiDict
from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.validation.request.exceptions import (
    MissingRequestBody,
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
)
from openapi_core.validation.request.validators import (
    V30RequestValidator,
    V31RequestValidator,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_core.validation.schemas.factories import (
    DialectSchemaValidatorsFactory,
    SchemaValidatorsFactory,
)
from openapi_core.validation.schemas.validators import SchemaValidator
from openapi_schema_validator import (
    OAS31_BASE_DIALECT_ID,
    OAS30ReadValidator,
    OAS30WriteValidator,
    OAS31Validator,
)
import yaml  # type: ignore[import-untyped]

from .envelopes import (
    ENERGY_COORDINATION,
    ENERGY_COORDINATION_PREFIX,
    FLEXMEASURES,
    POWERNAUT,
    energy_coordination_error,
    energy_coordination_problem,
    flexmeasures_unprocessable,
    platform_error,
    powernaut_error,
)

_LOGGER = logging.getLogger(__name__)

type JSONDict = dict[str, Any]

SPECS_DIR_ENV = "SANDBOX_SPECS_DIR"
SPEC_FILES: dict[str, str] = {
    POWERNAUT: "powernaut-partner-api.openapi.yml",
    ENERGY_COORDINATION: "energy-coordination-api.swagger.json",
    FLEXMEASURES: "flexmeasures-api.openapi.json",
}
WEBHOOK_SPEC_FILE = "energy-coordination-webhook.openapi.yaml"
#: Where each platform's spec paths start on the sandbox (its ``servers`` entry).
SPEC_BASES: dict[str, str] = {
    POWERNAUT: "/",
    ENERGY_COORDINATION: ENERGY_COORDINATION_PREFIX,
    FLEXMEASURES: "/",
}
#: The largest body validated (FlexMeasures' ingestion limit, the largest any
#: platform takes). A bigger body with a ``Content-Length`` is left unread for
#: the handler (FlexMeasures answers 413 itself); the app's ``client_max_size``
#: is ``MAX_BODY_BYTES`` + 1 MiB.
MAX_BODY_BYTES = 3 * 1024 * 1024
RAW_BODY_KEY: web.RequestKey[bytes] = web.RequestKey("sandbox_raw_body")
"""The request body the validation read (handlers that stream the body use it)."""

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


class SpecsNotFoundError(RuntimeError):
    """The vendor specs are not where the sandbox looks for them."""


# Where the specs are


def specs_dir() -> Path:
    """Return the spec directory: ``$SANDBOX_SPECS_DIR``, else ``<repo>/../shared/specs``."""
    override = os.environ.get(SPECS_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent.parent / "shared" / "specs"


def specs_available() -> bool:
    """Return whether every vendor spec file is where ``specs_dir`` says."""
    folder = specs_dir()
    return all(
        (folder / name).is_file() for name in (*SPEC_FILES.values(), WEBHOOK_SPEC_FILE)
    )


def _read_document(path: Path) -> JSONDict:
    if not path.is_file():
        raise SpecsNotFoundError(
            f"Vendor spec {path} not found: check out ../shared beside the "
            f"repository or set {SPECS_DIR_ENV}"
        )
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yml", ".yaml"):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise SpecsNotFoundError(f"{path} is not an OpenAPI document")
    return document


# Walking a document


def _walk(node: Any) -> Iterator[JSONDict]:
    """Yield every object (dict) in a JSON document, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _schemas(spec: JSONDict) -> JSONDict:
    return cast("JSONDict", spec["components"]["schemas"])


def _operation(spec: JSONDict, method: str, path: str) -> JSONDict:
    return cast("JSONDict", spec["paths"][path][method])


# Errata (platform-apis.md §5)


@dataclass(frozen=True, slots=True)
class Erratum:
    """One correction of a published spec, applied to the loaded document."""

    platform: str
    name: str
    spec_says: str
    service_does: str
    apply: Callable[[JSONDict], None]
    source: str = "platform-apis.md §5"


_PN_BROKEN_DECIMALS = {
    "^-?[0-9]{1,15}(.[0-9]{1,6}?)$": r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$",
    "^-?[0-9]{1,15}(.[0-9]{1,5}?)$": r"^-?[0-9]{1,15}(\.[0-9]{1,5})?$",
}


def _pn_decimal_pattern(spec: JSONDict) -> None:
    # §5: the group is not optional and the dot is not escaped, so "0" and "7"
    # fail while "7,4" passes. Intended (and what the service applies): up to
    # 15 digits, optionally a dot and 1-6 decimals (prices 1-5).
    for node in _walk(spec):
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern in _PN_BROKEN_DECIMALS:
            node["pattern"] = _PN_BROKEN_DECIMALS[pattern]


def _pn_object_typed_strings(spec: JSONDict) -> None:
    # §5: head_meter_resource_id and activation.canceled_at are typed
    # ``object``; on the wire they are a uuid string and a date-time string.
    for schema in _schemas(spec).values():
        props = schema.get("properties", {})
        if "head_meter_resource_id" in props:
            props["head_meter_resource_id"].update(type="string", format="uuid")
        if "canceled_at" in props:
            props["canceled_at"].update(type="string", format="date-time")
            props["canceled_at"]["nullable"] = True


def _pn_markets_ineligible(spec: JSONDict) -> None:
    # §5: the markets response maps ``unavailable`` to a schema whose enum says
    # ``ineligible``; the service's word is either: accept both.
    status = _schemas(spec)["MarketUnavailableDto"]["properties"]["status"]
    status["enum"] = ["ineligible", "unavailable"]


_PN_RESOURCE_STATUS: JSONDict = {
    "type": "string",
    "enum": ["onboarding", "operational", "degraded", "suspended"],
}


def _pn_resource_status(spec: JSONDict) -> None:
    # §5 (docs only): the spec's ResourceDto has no ``status`` and no health
    # checks; the product docs describe both. Optional fields.
    props = _schemas(spec)["ResourceDto"]["properties"]
    props.setdefault("status", dict(_PN_RESOURCE_STATUS))
    props.setdefault("health_checks", {"type": "object"})


_ACK_ALIASES: dict[str, str] = {
    "LocationLPCAcknowledgement": "LocationLPCAcknowledged",
    "ResourceLPCAcknowledgement": "ResourceLPCAcknowledged",
}


def _discriminate(spec: JSONDict, base: str, aliases: Mapping[str, str]) -> None:
    schemas = _schemas(spec)
    for payload_type, ref in schemas[base]["discriminator"]["mapping"].items():
        schema = schemas[ref.rsplit("/", 1)[1]]
        schema.pop("allOf", None)
        values = [payload_type]
        if payload_type in aliases:
            values.append(aliases[payload_type])
        schema.setdefault("properties", {})["payloadType"] = {
            "type": "string",
            "enum": values,
        }
        required = schema.setdefault("required", [])
        if "payloadType" not in required:
            required.append("payloadType")


def _ec_report_payloads(spec: JSONDict) -> None:
    # §5: each report payload is ``allOf: [SparkReportPayload]`` plus its own
    # properties, and both halves say ``additionalProperties: false`` — so no
    # payload validates as written. The service discriminates on
    # ``payloadType``: each payload schema gets its own ``payloadType`` (the
    # docs' ``…Acknowledged`` spelling too, §5) and loses the ``allOf``.
    _discriminate(spec, "SparkReportPayload", _ACK_ALIASES)


def _ec_event_payloads(spec: JSONDict) -> None:
    # §5: the event payload union (``GetEventResponse.payload``,
    # ``EventNotification.payload``) has the same ``allOf`` +
    # ``additionalProperties: false`` defect; discriminate on ``payloadType``.
    _discriminate(spec, "SparkEventPayload", {})
    schemas = _schemas(spec)
    union = {
        "oneOf": copy.deepcopy(
            schemas["GetEventResponse"]["properties"]["payload"]["oneOf"]
        )
    }
    schemas["EventNotification"]["properties"]["payload"] = union


def _fm_token_response(spec: JSONDict) -> None:
    # §5: the spec's token response is ``{authentication_token}``; the server
    # (and the official client) use ``{auth_token, user_id}``.
    response = spec["paths"]["/api/requestAuthToken"]["post"]["responses"]["200"]
    response["content"]["application/json"]["schema"] = {
        "type": "object",
        "properties": {
            "auth_token": {"type": "string"},
            "user_id": {"type": "integer"},
        },
        "required": ["auth_token"],
    }


def _fm_sensor_data_sensor(spec: JSONDict) -> None:
    # §5: ``POST /sensors/{id}/data`` requires ``sensor`` in the body; the path
    # carries it and the server does not need it.
    schema = _schemas(spec)["PostSensorData"]
    schema["required"] = [name for name in schema["required"] if name != "sensor"]


def _fm_partial_patch(spec: JSONDict) -> None:
    # §5: ``PATCH /sensors/{id}`` and ``PATCH /assets/{id}`` reuse the create
    # schemas with their ``required`` lists; the server patches partially.
    schemas = _schemas(spec)
    for path, name in (
        ("/api/v3_0/sensors/{id}", "Sensor1"),
        ("/api/v3_0/assets/{id}", "AssetSchema"),
    ):
        patch_name = f"{name}Patch"
        partial = copy.deepcopy(schemas[name])
        partial.pop("required", None)
        schemas[patch_name] = partial
        _operation(spec, "patch", path)["requestBody"]["content"]["application/json"][
            "schema"
        ] = {"$ref": f"#/components/schemas/{patch_name}"}


def _fm_flex_context_object(spec: JSONDict) -> None:
    # §5: the asset trigger's ``flex-context`` is typed as an array of
    # contexts; the server takes one object.
    props = _schemas(spec)["AssetTriggerOpenAPI"]["properties"]
    description = props["flex-context"].get("description", "")
    props["flex-context"] = {
        "description": description,
        "$ref": "#/components/schemas/FlexContextOpenAPISchema",
    }


#: Flex-model fields the spec types as (quantity) strings only.
_FM_STRING_QUANTITIES = ("soc-at-start", "soc-min", "soc-max", "roundtrip-efficiency")


def _fm_quantities(spec: JSONDict) -> None:
    # §5: quantity strings such as "0.2 EUR/kWh" are valid flex-model and
    # flex-context values, and so are plain numbers; the spec allows only
    # strings for fixed quantities.
    # The union of a quantity, a sensor reference and a time series is told
    # apart by JSON type; its ``discriminator`` on a ``type`` property (which
    # none of them has) would refuse every value.
    schemas = _schemas(spec)
    schemas["VariableQuantityOpenAPI"].pop("discriminator", None)
    schemas["Quantity"]["type"] = ["string", "number"]
    props = schemas["StorageFlexModelSchemaOpenAPI"]["properties"]
    for name in _FM_STRING_QUANTITIES:
        if props.get(name, {}).get("type") == "string":
            props[name]["type"] = ["string", "number"]


def _fm_nullable(spec: JSONDict) -> None:
    # §5: ``nullable`` fields can be ``null``. In this OpenAPI 3.1 document
    # ``nullable: true`` (an OpenAPI 3.0 keyword) means nothing to JSON
    # Schema; it becomes ``"null"`` in the ``type``.
    for node in _walk(spec):
        if node.get("nullable") is True:
            del node["nullable"]
            kind = node.get("type")
            if isinstance(kind, str):
                node["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                kind.append("null")


#: FlexMeasures' datetimes: seconds optional, an offset required (``+01`` too;
#: an unescaped ``+`` in a query string arrives as a space, which FlexMeasures
#: reads as ``+``).
FM_DATE_TIME_FORMAT = "flexmeasures-date-time"
_FM_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+ -]\d{2}(?::?\d{2})?)$"
)


def _fm_date_time(spec: JSONDict) -> None:
    # §5: timestamps without seconds (``2026-01-15T10:00+01:00``, the spec's
    # own examples) are accepted; RFC 3339's ``date-time`` wants seconds. The
    # format becomes ``flexmeasures-date-time`` (checked by
    # ``_is_fm_date_time``: an offset is still required).
    for node in _walk(spec):
        if node.get("format") == "date-time":
            node["format"] = FM_DATE_TIME_FORMAT


def _is_fm_date_time(value: object) -> bool:
    return not isinstance(value, str) or _FM_DATE_TIME.match(value) is not None


#: ISO 8601 durations as RFC 3339 (appendix A) writes them: ``PT15M``, ``P1D``,
#: ``P1W``, ``PT1.5H``.
_DURATION = re.compile(
    r"^P(?!$)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?"
    r"(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?"
    r"(?:\d+(?:[.,]\d+)?S)?)?$"
)


def _is_duration(value: object) -> bool:
    """Check ``format: duration`` (jsonschema checks it only with isoduration installed)."""
    return not isinstance(value, str) or _DURATION.match(value) is not None


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        POWERNAUT,
        "decimal pattern",
        "^-?[0-9]{1,15}(.[0-9]{1,6}?)$: '0' and '7' fail, '7,4' passes",
        r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$ (prices: 5 decimals)",
        _pn_decimal_pattern,
    ),
    Erratum(
        POWERNAUT,
        "head_meter_resource_id / canceled_at types",
        "typed object",
        "a uuid string / a date-time string",
        _pn_object_typed_strings,
    ),
    Erratum(
        POWERNAUT,
        "markets status",
        "the 'unavailable' market's enum is ['ineligible']",
        "either word",
        _pn_markets_ineligible,
    ),
    Erratum(
        POWERNAUT,
        "resource status and health checks",
        "absent from ResourceDto",
        "described by the product docs: optional fields",
        _pn_resource_status,
    ),
    Erratum(
        ENERGY_COORDINATION,
        "report payload union",
        "allOf + additionalProperties:false on both halves: nothing validates",
        "payloadType discriminates (spec …Acknowledgement and docs …Acknowledged)",
        _ec_report_payloads,
    ),
    Erratum(
        ENERGY_COORDINATION,
        "event payload union",
        "allOf + additionalProperties:false on both halves: nothing validates",
        "payloadType discriminates",
        _ec_event_payloads,
    ),
    Erratum(
        FLEXMEASURES,
        "token response",
        "{authentication_token}",
        "{auth_token, user_id}",
        _fm_token_response,
    ),
    Erratum(
        FLEXMEASURES,
        "POST /sensors/{id}/data sensor",
        "sensor required in the body",
        "the path carries it",
        _fm_sensor_data_sensor,
    ),
    Erratum(
        FLEXMEASURES,
        "PATCH partial",
        "PATCH sensors/assets reuse the create schemas (required fields)",
        "partial updates",
        _fm_partial_patch,
    ),
    Erratum(
        FLEXMEASURES,
        "flex-context",
        "an array of contexts",
        "one object",
        _fm_flex_context_object,
    ),
    Erratum(
        FLEXMEASURES,
        "quantities",
        "fixed quantities are strings",
        "quantity strings and plain numbers",
        _fm_quantities,
    ),
    Erratum(
        FLEXMEASURES,
        "nullable",
        "nullable: true (meaningless in OpenAPI 3.1)",
        "null accepted",
        _fm_nullable,
    ),
    Erratum(
        FLEXMEASURES,
        "timestamps without seconds",
        "format date-time (RFC 3339: seconds required)",
        "seconds optional, an offset required",
        _fm_date_time,
    ),
)

#: §5 items that are not a patch of a request schema, and where they live.
ERRATA_ELSEWHERE: tuple[tuple[str, str], ...] = (
    (
        (
            "Energy Coordination: the Bearer scheme is case-insensitive; an "
            "expired token gets 401 (none documented)"
        ),
        "security is not validated here: energy_coordination.authenticate",
    ),
    (
        (
            "Energy Coordination: the webhook spec requires x-payload-signature "
            "although webhookSecret is optional"
        ),
        (
            "not patched (right for a receiver: register with a secret); "
            "validate_webhook_notification checks the header"
        ),
    ),
    (
        (
            "FlexMeasures: GET /sensors returns full sensor objects; GET "
            "/sensors/{id}/status wraps the list in {sensors_data}"
        ),
        "responses (not validated at run time): flexmeasures.py",
    ),
    (
        "FlexMeasures: requestAuthToken answers 422 (not 400) for a missing field",
        "REJECT_STATUS: FlexMeasures' OpenAPI violations are 422",
    ),
    (
        (
            "FlexMeasures 1.0.1: 202 triggers, 'in progress' 400s, unique asset "
            "names, bare-token Authorization"
        ),
        "behaviour: flexmeasures.py and flexmeasures_schedules.py",
    ),
)


# Documented behaviour outside §5


DOCUMENTED_BEHAVIOUR: tuple[Erratum, ...] = ()
"""Corrections from the docs beyond §5: none. (platform-apis.md §1.2 says a
Powernaut PATCH's ``null`` unsets a field; the service refuses ``null`` where
the spec does not allow it, e.g. a resource's ``capacity``, so the spec holds.)"""


# Sandbox rules: stricter than a spec, because the service is


def _pn_forbid_unknown_properties(spec: JSONDict) -> None:
    # The Powernaut DTOs declare no ``additionalProperties``, but the service
    # validates bodies with a whitelisting validator that refuses unknown
    # properties ("property foo should not exist"), as the sandbox's handlers
    # do: every object schema with properties gets additionalProperties:false.
    for schema in _schemas(spec).values():
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not any(key in schema for key in ("allOf", "oneOf", "anyOf"))
        ):
            schema["additionalProperties"] = False


SANDBOX_RULES: tuple[Erratum, ...] = (
    Erratum(
        POWERNAUT,
        "unknown properties",
        "DTOs do not set additionalProperties",
        "unknown properties are 400 ('property foo should not exist')",
        _pn_forbid_unknown_properties,
        source="sandbox (the service's whitelisting validator)",
    ),
)


# Routes and waivers


@dataclass(frozen=True, slots=True)
class Waiver:
    """A request the validation lets through.

    ``method`` (or ``*``) and ``path`` (an ``fnmatch`` glob on the request
    path) select requests; with ``error`` (a substring) only requests all of
    whose problems contain it are waived, otherwise any problem is.
    """

    method: str
    path: str
    reason: str
    error: str | None = None

    def covers(self, method: str, path: str, problems: Iterable[str]) -> bool:
        """Return whether the waiver lets this request and its problems through."""
        if self.method not in ("*", method) or not fnmatchcase(path, self.path):
            return False
        return self.error is None or all(self.error in p for p in problems)


#: Sandbox routes no vendor spec describes: they are served, never validated.
#: (``/_sandbox/*`` control routes do not even reach the validation.)
UNVALIDATED_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("*", "/_sandbox/*", "the sandbox's control API"),
    (
        "POST",
        "/connect/token",
        (
            "Energy Coordination's token endpoint is Volue's identity server "
            "(OAuth2 client credentials, a form body), outside the API spec"
        ),
    ),
)

#: Sandbox paths served as another spec path: the old spelling of a path.
PATH_ALIASES: dict[str, str] = {
    # Older Energy Coordination specs and docs spell it ``priceCurve``.
    "/energy-coordination/v1/simulation/events/priceCurve": (
        "/energy-coordination/v1/simulation/events/pricecurve"
    ),
}

#: Requests the validation lets through although they violate the spec.
WAIVERS: tuple[Waiver, ...] = ()

# Compiled specs


class _CachingValidatorsFactory(SchemaValidatorsFactory):
    """Builds each schema's JSON Schema validator once (openapi-core rebuilds per call)."""

    def __init__(self, base: SchemaValidatorsFactory) -> None:
        super().__init__(base.schema_validator_cls, base.format_checker)
        self._base = base
        self._cache: dict[tuple[str, bool, bool], SchemaValidator] = {}

    def get_validator_cls(self, spec: SchemaPath, schema: SchemaPath) -> Any:
        return self._base.get_validator_cls(spec, schema)

    def create(  # noqa: PLR0917 - openapi-core's signature
        self,
        spec: SchemaPath,
        schema: SchemaPath,
        format_validators: Any = None,
        extra_format_validators: Any = None,
        forbid_unspecified_additional_properties: bool = False,
        enforce_properties_required: bool = False,
    ) -> SchemaValidator:
        key = (
            schema.as_uri(),
            forbid_unspecified_additional_properties,
            enforce_properties_required,
        )
        validator = self._cache.get(key)
        if validator is None:
            validator = self._base.create(
                spec,
                schema,
                format_validators=format_validators,
                extra_format_validators=extra_format_validators,
                forbid_unspecified_additional_properties=forbid_unspecified_additional_properties,
                enforce_properties_required=enforce_properties_required,
            )
            self._cache[key] = validator
        return validator


class _V30Validator(V30RequestValidator):
    def problems(
        self, request: _Request, path: SchemaPath, operation: SchemaPath
    ) -> list[Exception]:
        return _problems(self, request, path, operation)


class _V31Validator(V31RequestValidator):
    def problems(
        self, request: _Request, path: SchemaPath, operation: SchemaPath
    ) -> list[Exception]:
        return _problems(self, request, path, operation)


def _problems(
    validator: V30RequestValidator | V31RequestValidator,
    request: _Request,
    path: SchemaPath,
    operation: SchemaPath,
) -> list[Exception]:
    """Parameters and body errors (not security: the handlers answer 401)."""
    errors: list[Exception] = list(
        validator._iter_parameters_errors(request, operation, path)  # noqa: SLF001
    )
    try:
        validator._get_body(request.body, request.content_type, operation)  # noqa: SLF001
    except MissingRequestBody:
        pass
    except RequestBodyValidationError as err:
        errors.append(err)
    return errors


@dataclass(slots=True)
class _Request:
    """The request as openapi-core reads it (path parameters from the route)."""

    method: str
    path: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None
    host_url: str = "http://sandbox"


#: Energy Coordination operations whose shape errors the sandbox answers as
#: problem+json although the spec documents a string 400 (the simulation
#: routes, as their handlers do: ASP.NET's model validation answers so).
_PROBLEM_JSON_PREFIXES = ("/simulation/",)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a spec, as the sandbox routes it."""

    platform: str
    method: str
    template: str
    has_body: bool
    secured: bool
    media_types: tuple[str, ...]
    problem_json: bool
    path: SchemaPath = field(repr=False, compare=False)
    operation: SchemaPath = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        """Return ``METHOD /spec/path``."""
        return f"{self.method.upper()} {self.template}"


@dataclass(slots=True)
class PlatformSpec:
    """One platform's patched spec and its compiled request validator."""

    platform: str
    file: str
    document: JSONDict
    openapi: OpenAPI
    validator: _V30Validator | _V31Validator
    base: str
    operations: dict[tuple[str, str], Operation | None] = field(default_factory=dict)

    def operation(self, method: str, route: str) -> Operation | None:
        """Return the operation of a sandbox route template (cached), or None."""
        key = (method, route)
        if key in self.operations:
            return self.operations[key]
        found = self._find(method, route)
        self.operations[key] = found
        return found

    def _find(self, method: str, route: str) -> Operation | None:
        route = PATH_ALIASES.get(route, route)
        base = self.base.rstrip("/")
        if base and not route.startswith(base + "/"):
            return None
        template = route[len(base) :]
        verb = "get" if method == "head" else method
        item = self.document["paths"].get(template)
        if not isinstance(item, dict) or verb not in item:
            return None
        raw = item[verb]
        body = raw.get("requestBody")
        bad = raw.get("responses", {}).get("400", {})
        content = bad.get("content") or {}
        problem_json = (
            not content
            or "application/problem+json" in content
            or template.startswith(_PROBLEM_JSON_PREFIXES)
        )
        path = self.openapi.spec / "paths" / template
        return Operation(
            platform=self.platform,
            method=verb,
            template=template,
            has_body=body is not None,
            secured=any(raw.get("security", self.document.get("security")) or ()),
            media_types=tuple((body or {}).get("content", {})),
            problem_json=problem_json,
            path=path,
            operation=path / verb,
        )


@dataclass(frozen=True, slots=True)
class Specs:
    """The three platform specs and the webhook receiver spec, patched and compiled."""

    directory: Path
    platforms: dict[str, PlatformSpec]
    webhook: OpenAPI
    webhook_validator: _V30Validator


def _drop_authorization_parameters(spec: JSONDict) -> None:
    """Credentials are the handlers' business (401 is an answer, not a violation).

    Powernaut's token endpoint also declares its Basic ``Authorization``
    header as a required header parameter, next to the security scheme.
    """
    for item in spec["paths"].values():
        for key, operation in item.items():
            if key in _HTTP_METHODS or key == "parameters":
                holder = operation if isinstance(operation, dict) else item
                params = holder.get("parameters") if key in _HTTP_METHODS else operation
                if isinstance(params, list):
                    params[:] = [
                        p
                        for p in params
                        if not (
                            p.get("in") == "header"
                            and str(p.get("name", "")).lower() == "authorization"
                        )
                    ]


def _patch(platform: str, document: JSONDict) -> JSONDict:
    for erratum in (*ERRATA, *DOCUMENTED_BEHAVIOUR, *SANDBOX_RULES):
        if erratum.platform == platform:
            erratum.apply(document)
    _drop_authorization_parameters(document)
    # Relocate: the sandbox serves the paths at its own root.
    document["servers"] = [{"url": SPEC_BASES[platform]}]
    return document


def _compile(platform: str, file: str, document: JSONDict) -> PlatformSpec:
    v31 = str(document.get("openapi", "")).startswith("3.1")
    extra: dict[str, Callable[[object], bool]] = {"duration": _is_duration}
    if platform == FLEXMEASURES:
        extra[FM_DATE_TIME_FORMAT] = _is_fm_date_time
    openapi = OpenAPI.from_dict(
        document, config=Config(spec_validator_cls=None, extra_format_validators=extra)
    )
    validator: _V30Validator | _V31Validator
    if v31:
        validator = _V31Validator(
            openapi.spec,
            schema_validators_factory=_CachingValidatorsFactory(
                DialectSchemaValidatorsFactory(
                    OAS31Validator,
                    OAS31_BASE_DIALECT_ID,
                    format_checker=OAS30ReadValidator.FORMAT_CHECKER,
                )
            ),
            extra_format_validators=extra,
        )
    else:
        validator = _V30Validator(
            openapi.spec,
            schema_validators_factory=_CachingValidatorsFactory(
                SchemaValidatorsFactory(OAS30WriteValidator)
            ),
            extra_format_validators=extra,
        )
    return PlatformSpec(
        platform=platform,
        file=file,
        document=document,
        openapi=openapi,
        validator=validator,
        base=SPEC_BASES[platform],
    )


def _webhook_document(directory: Path, ec_document: JSONDict) -> JSONDict:
    document = _read_document(directory / WEBHOOK_SPEC_FILE)
    # Its EventNotification is a $ref to the service's published swagger.json:
    # use the local (patched) copy of that document's schemas instead.
    schemas = copy.deepcopy(_schemas(ec_document))
    document.setdefault("components", {})["schemas"] = schemas
    document["servers"] = [{"url": "/"}]
    return document


@functools.cache
def _load(directory: Path) -> Specs:
    platforms: dict[str, PlatformSpec] = {}
    for platform, file in SPEC_FILES.items():
        document = _patch(platform, _read_document(directory / file))
        platforms[platform] = _compile(platform, file, document)
    webhook_document = _webhook_document(
        directory, platforms[ENERGY_COORDINATION].document
    )
    webhook = OpenAPI.from_dict(
        webhook_document, config=Config(spec_validator_cls=None)
    )
    webhook_validator = _V30Validator(
        webhook.spec,
        schema_validators_factory=_CachingValidatorsFactory(
            SchemaValidatorsFactory(OAS30WriteValidator)
        ),
    )
    return Specs(directory, platforms, webhook, webhook_validator)


def load_specs(directory: Path | None = None) -> Specs:
    """Return the patched, compiled specs (read once per process and directory)."""
    return _load((directory or specs_dir()).resolve())


# Describing problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request: where (location and JSON path) and what."""

    location: str  # "path", "query", "header", "body" or "request"
    path: tuple[str | int, ...]
    message: str
    kind: str = ""  # the failed JSON Schema keyword ("required", "type", ...)
    expected: Any = field(default=None, compare=False)  # the keyword's value
    value: Any = field(default=None, compare=False)  # the offending value

    def __str__(self) -> str:
        """Return ``body.power.active.maximum: '7,4' does not match ...``."""
        return f"{self.location}{_json_path(self.path)}: {self.message}"


def _json_path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_QUOTED = re.compile(r"'([^']*)'")


def _branches(error: SchemaError) -> list[SchemaError]:
    """The errors of the most plausible ``oneOf``/``anyOf`` branch.

    A branch whose discriminator (``payloadType``, ``status`` or ``type``
    right at the failing object) does not match is ruled out; of the others
    the one with the fewest errors wins.
    """
    by_branch: dict[Any, list[SchemaError]] = {}
    for sub in error.context or ():
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        by_branch.setdefault(branch, []).append(sub)
    plausible = [
        errors
        for errors in by_branch.values()
        if not any(
            list(sub.relative_path) in (["payloadType"], ["status"], ["type"])
            or (sub.validator == "enum" and sub.validator_value == [None])
            or (sub.validator == "type" and not sub.relative_path)
            for sub in errors
        )
    ]
    if not plausible:
        return []
    return min(plausible, key=len)


def _discriminator_problem(location: str, error: SchemaError) -> Problem | None:
    """A union no branch of which takes the value's ``payloadType``: say so."""
    allowed: list[Any] = []
    for sub in error.context or ():
        if list(sub.relative_path) == ["payloadType"] and sub.validator == "enum":
            allowed.extend(v for v in sub.validator_value if v not in allowed)
    if not allowed or not isinstance(error.instance, dict):
        return None
    value = error.instance.get("payloadType")
    return Problem(
        location,
        (*error.absolute_path, "payloadType"),
        f"{value!r} is not one of {allowed}",
        "enum",
        allowed,
        value,
    )


def _schema_problems(location: str, error: SchemaError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _branches(error)
        if branch:
            for sub in branch:  # their absolute paths include this error's
                yield from _schema_problems(location, sub)
            return
        if (found := _discriminator_problem(location, error)) is not None:
            yield found
            return
    if error.validator == "required" and (names := _QUOTED.findall(error.message)):
        yield Problem(location, (*path, names[0]), "is required", "required")
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = (
            error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        )
        for name in sorted(set(error.instance) - set(allowed)):
            yield Problem(
                location,
                (*path, name),
                "is not allowed (additionalProperties: false)",
                "additionalProperties",
            )
        return
    kind = str(error.validator)
    if error.instance is None and kind in ("type", "nullable"):
        kind = "null"
    yield Problem(
        location, path, _message(error), kind, error.validator_value, error.instance
    )


def _message(error: SchemaError) -> str:
    """Return jsonschema's message, with a long offending value shortened."""
    if error.validator == "maxItems":
        return f"has more than {error.validator_value} items"
    if error.validator == "enum" and len(error.validator_value) > 12:
        count = len(error.validator_value)
        return (
            f"{_short(error.instance)} is not one of the {count} values the spec allows"
        )
    text = str(error.message)
    shown = repr(error.instance)
    if len(shown) > 60 and text.startswith(shown):
        text = _short(error.instance) + text[len(shown) :]
    return text


def _short(value: Any) -> str:
    shown = repr(value)
    if len(shown) <= 60:
        return shown
    if isinstance(value, list):
        return f"[...] ({len(value)} items)"
    if isinstance(value, dict):
        return "{...}"
    return shown[:57] + "..."


def _problems_of(error: Exception) -> list[Problem]:
    if isinstance(error, MissingRequiredParameter):
        return [Problem(error.location, (error.name,), "is required", "required")]
    if isinstance(error, ParameterValidationError):
        return _cause_problems(error.location, (error.name,), error.__cause__)
    if isinstance(error, MissingRequiredRequestBody):
        return [Problem("body", (), "a request body is required")]
    if isinstance(error, RequestBodyValidationError):
        return _cause_problems("body", (), error.__cause__)
    return [Problem("request", (), str(error))]


def _cause_problems(
    location: str, prefix: tuple[str | int, ...], cause: BaseException | None
) -> list[Problem]:
    if isinstance(cause, InvalidSchemaValue):
        return [
            Problem(
                found.location,
                (*prefix, *found.path),
                found.message,
                found.kind,
                found.expected,
                found.value,
            )
            for sub in cause.schema_errors
            if isinstance(sub, SchemaError)
            for found in _schema_problems(location, sub)
        ]
    if isinstance(cause, CastError):
        message = f"{cause.value!r} is not a valid {cause.type}"
        return [Problem(location, prefix, message, "type", cause.type, cause.value)]
    text = "invalid" if cause is None else (str(cause) or type(cause).__name__)
    return [Problem(location, prefix, text)]


def _tidy(problems: Iterable[Problem]) -> list[Problem]:
    """Drop repeats; a ``null`` where none is allowed is one problem, not three."""
    nulls = {
        (p.location, p.path) for p in problems if p.message == "None for not nullable"
    }
    tidy: list[Problem] = []
    for found in problems:
        problem = (
            Problem(found.location, found.path, "may not be null", "null")
            if (found.location, found.path) in nulls
            else found
        )
        if problem not in tidy:
            tidy.append(problem)
    return tidy


def _ec_key(problem: Problem) -> str:
    """The key ASP.NET uses for a problem: ``$.a.b[0]`` in the body, else the parameter."""
    if problem.location == "body":
        return "$" + _json_path(problem.path)
    return _json_path(problem.path).lstrip(".") or problem.location


#: webargs' name for each location in FlexMeasures' 422 ``message``.
_FM_LOCATIONS = {"body": "json", "query": "query", "path": "path", "header": "headers"}
#: FlexMeasures' sensor data routes read the query and the body as one.
_FM_COMBINED = {"/api/v3_0/sensors/{id}/data": "combined_sensor_data_description"}
#: marshmallow's wording for the common failures.
_MARSHMALLOW_TYPES = {
    "integer": "Not a valid integer.",
    "number": "Not a valid number.",
    "string": "Not a valid string.",
    "boolean": "Not a valid boolean.",
    "array": "Not a valid list.",
    "object": "Not a valid mapping type.",
}


def _marshmallow(problem: Problem) -> tuple[tuple[str | int, ...], str]:
    """Where marshmallow files the problem, and its wording."""
    if problem.kind == "required":
        return problem.path, "Missing data for required field."
    if problem.kind == "additionalProperties":
        return problem.path, "Unknown field."
    if problem.kind == "null":
        return problem.path, "Field may not be null."
    if problem.kind == "type":
        expected = problem.expected
        first = expected[0] if isinstance(expected, list) and expected else expected
        if first == "object":  # a nested schema: filed under its "_schema"
            return (*problem.path, "_schema"), "Invalid input type."
        return problem.path, _MARSHMALLOW_TYPES.get(str(first), problem.message)
    if problem.kind == "enum" and isinstance(problem.expected, list):
        if len(problem.expected) <= 12:
            choices = ", ".join(map(str, problem.expected))
            return problem.path, f"Must be one of: {choices}."
    if problem.kind == "format" and problem.expected == FM_DATE_TIME_FORMAT:
        return problem.path, "Not a valid aware datetime."
    if problem.kind == "format" and problem.expected == "duration":
        return problem.path, f"Cannot parse {problem.value} as ISO8601 duration."
    return problem.path, problem.message


def _file(target: JSONDict, path: tuple[str | int, ...], message: str) -> None:
    """Add a message at a path of nested dicts (indices as strings), as marshmallow does."""
    keys = [str(part) for part in path] or ["_schema"]
    node = target
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {} if child is None else {"_schema": child}
            node[key] = child
        node = child
    existing = node.get(keys[-1])
    if isinstance(existing, dict):
        existing.setdefault("_schema", []).append(message)
    else:
        node.setdefault(keys[-1], []).append(message)


def _fm_message(op: Operation, problems: Iterable[Problem]) -> JSONDict:
    """FlexMeasures' 422 ``message``: ``{location: {field: [msgs], nested: {...}}}``."""
    message: JSONDict = {}
    for problem in problems:
        location = _FM_COMBINED.get(op.template) or _FM_LOCATIONS.get(
            problem.location, "_schema"
        )
        path, text = _marshmallow(problem)
        _file(message.setdefault(location, {}), path, text)
    return message


# Checking requests


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request that violates its operation: why, and the answer to send."""

    operation: str
    problems: tuple[str, ...]
    response: web.Response

    @property
    def reason(self) -> str:
        """Return the violation reason recorded for the request."""
        return f"OpenAPI {self.operation}: " + "; ".join(self.problems)


#: The status an OpenAPI violation is answered with, per platform: 400, except
#: FlexMeasures, whose request parsing (webargs) answers every schema error
#: 422 UNPROCESSABLE_ENTITY (platform-apis.md §3.1; §5: requestAuthToken too).
REJECT_STATUS: dict[str, int] = {
    POWERNAUT: 400,
    ENERGY_COORDINATION: 400,
    FLEXMEASURES: 422,
}


def _response(op: Operation, problems: list[Problem]) -> web.Response:
    texts = [str(problem) for problem in problems]
    if op.platform == POWERNAUT:
        return powernaut_error(REJECT_STATUS[POWERNAUT], texts)
    if op.platform == ENERGY_COORDINATION:
        if op.problem_json:
            errors: dict[str, list[str]] = {}
            for problem in problems:
                errors.setdefault(_ec_key(problem), []).append(problem.message)
            return energy_coordination_problem(errors)
        return energy_coordination_error(
            REJECT_STATUS[ENERGY_COORDINATION], "; ".join(texts)
        )
    return flexmeasures_unprocessable(_fm_message(op, problems))


def _too_large(op: Operation) -> Rejection:
    message = f"Request body exceeds the configured limit of {MAX_BODY_BYTES} bytes."
    response = (
        web.json_response(
            {"result": "Rejected", "status": "PAYLOAD_TOO_LARGE", "message": message},
            status=413,
        )
        if op.platform == FLEXMEASURES
        else platform_error(op.platform, 413, message)
    )
    return Rejection(op.name, (f"body: {message}",), response)


class RequestValidator:
    """Validates platform requests before the handlers see them."""

    def __init__(self, specs: Specs | None = None) -> None:
        """Use the given specs, or load (once per process) the default ones."""
        self.specs = specs if specs is not None else load_specs()

    def operation_for(self, platform: str, method: str, route: str) -> Operation | None:
        """Return the spec operation a sandbox route (``/v1/connect/sites/{id}``) serves."""
        return self.specs.platforms[platform].operation(method.lower(), route)

    async def check(
        self,
        request: web.Request,
        platform: str | None,
        *,
        authenticated: Callable[[web.Request, str | None], bool] | None = None,
    ) -> Rejection | None:
        """Validate one request; return the rejection, or None when it passes or is not checked.

        ``authenticated(request, platform)`` tells whether the credentials are
        valid: the services authenticate first, so a secured operation called
        without valid credentials is left to the handler (401), unchecked.
        """
        op = self._operation_of(request, platform)
        if op is None:
            return None
        body: bytes | None = None
        if op.has_body and request.body_exists and self._reads_body(op, request):
            length = request.content_length
            if length is not None and length > MAX_BODY_BYTES:
                return None  # left to the handler (FlexMeasures answers 413)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _too_large(op)
            request[RAW_BODY_KEY] = body
        problems = self.problems(op, request, body)
        if not problems or (
            op.secured
            and authenticated is not None
            and not authenticated(request, platform)
        ):
            return None
        texts = [str(problem) for problem in problems]
        if any(
            waiver.covers(request.method, request.path, texts) for waiver in WAIVERS
        ):
            return None
        return Rejection(op.name, tuple(texts), _response(op, problems))

    def _operation_of(
        self, request: web.Request, platform: str | None
    ) -> Operation | None:
        """Return the spec operation of the route that matched, or None when not validated."""
        match_info = request.match_info
        resource = match_info.route.resource
        if (
            platform is None
            or match_info.http_exception is not None
            or resource is None
        ):
            return None  # not a platform, or no such route: the server answers it
        template = resource.canonical
        if _unvalidated(request.method, template):
            return None
        op = self.operation_for(platform, request.method, template)
        if op is None:
            _LOGGER.warning(
                "Sandbox route %s %s is in no %s spec operation; not validated",
                request.method,
                template,
                platform,
            )
        return op

    @staticmethod
    def _reads_body(op: Operation, request: web.Request) -> bool:
        """FlexMeasures (webargs) ignores a body that is not JSON: no body then."""
        return op.platform != FLEXMEASURES or request.content_type in op.media_types

    def problems(
        self, op: Operation, request: web.Request, body: bytes | None
    ) -> list[Problem]:
        """Return every problem of a request with its operation (empty when valid)."""
        parameters = RequestParameters(
            query=MultiDict(request.query),
            header=CIMultiDict(request.headers),
            cookie=MultiDict(request.cookies),
            path=dict(request.match_info),
        )
        wrapped = _Request(
            method=op.method,
            path=request.path,
            parameters=parameters,
            content_type=request.content_type if body else "",
            body=body,
        )
        validator = self.specs.platforms[op.platform].validator
        try:
            with warnings.catch_warnings():
                # openapi-core warns about deprecated parameters the client sends.
                warnings.simplefilter("ignore", DeprecationWarning)
                errors = validator.problems(wrapped, op.path, op.operation)
        except OpenAPIError as err:  # pragma: no cover - openapi-core internals
            errors = [err]
        return _tidy([problem for error in errors for problem in _problems_of(error)])


def _unvalidated(method: str, template: str) -> bool:
    return any(
        verb in ("*", method) and fnmatchcase(template, pattern)
        for verb, pattern, _ in UNVALIDATED_ROUTES
    )


def validate_webhook_notification(
    body: bytes, headers: Mapping[str, str], specs: Specs | None = None
) -> list[str]:
    """Check a webhook delivery the sandbox sends against the receiver's spec.

    Returns the problems (empty when the notification is valid): the
    ``EventNotification`` body (with the event-payload erratum) and the
    required ``x-payload-signature`` header.
    """
    specs = specs if specs is not None else load_specs()
    path = specs.webhook.spec / "paths" / "/notify"
    request = _Request(
        method="post",
        path="/notify",
        parameters=RequestParameters(header=CIMultiDict(headers)),
        content_type="application/json",
        body=body,
    )
    errors = specs.webhook_validator.problems(request, path, path / "post")
    return [str(problem) for error in errors for problem in _problems_of(error)]
