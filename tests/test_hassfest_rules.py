"""Home Assistant's and HACS's own rules, checked on the integration's plain files.

hassfest (``script/hassfest`` of home-assistant/core, as of HA 2026.10) and the
HACS action validate a custom integration when a pull request runs on GitHub.
They cannot run here, so this module re-implements, in its own words, the
checks of theirs that apply to a custom integration, plus a few stricter house
rules the issue asked for (marked *house rule* below). Nothing here starts Home
Assistant: every check reads files (JSON, YAML, Python source through ``ast``)
and the installed ``homeassistant`` package's own data (its component folders,
the ``icons.json`` of the entity components, the selector registry).

Each ``check_*`` function returns a list of problems (empty when all is well),
so every rule is tested twice: once on the real files (no problem expected) and
once on a small broken sample (the problem must be reported).

Sources read (home-assistant/core ``script/hassfest/``): ``manifest.py``
(``CUSTOM_INTEGRATION_MANIFEST_SCHEMA``, ``validate_version``,
``sort_manifest``), ``translations.py`` (``RE_TRANSLATION_KEY``,
``gen_strings_schema``, ``validate_translation_value``), ``services.py``
(``CUSTOM_INTEGRATION_SERVICES_SCHEMA``, translation and icon checks),
``icons.py`` (``icon_schema``, ``ensure_not_same_as_default``) and
``quality_scale.py`` (``ALL_RULES``, ``SCHEMA``); hacs/integration
``utils/validate.py`` (``HACS_MANIFEST_JSON_SCHEMA``, the ``country`` list).
"""

# One branch per rule of a schema: the checkers are long on purpose.
# ruff: noqa: C901

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
import copy
import json
import os
from pathlib import Path
import re
import string
import tomllib
from typing import Any
from urllib.parse import urlparse

from awesomeversion import (
    AwesomeVersion,
    AwesomeVersionException,
    AwesomeVersionStrategy,
)
import homeassistant.components
from homeassistant.generated.countries import COUNTRIES
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "gridflex"
INTEGRATION = ROOT / "custom_components" / DOMAIN
HA_COMPONENTS = Path(homeassistant.components.__file__).parent
HA_CONSTRAINTS = HA_COMPONENTS.parent / "package_constraints.txt"

Problems = list[str]

# --------------------------------------------------------------------------
# Shared rules
# --------------------------------------------------------------------------

# hassfest's translation key rule: lowercase letters, digits, "-" and "_", not
# starting or ending with "-"/"_", and no two of "-"/"_" in a row.
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
# Home Assistant's ``cv.slug``: what ``slugify`` leaves unchanged, i.e. words
# of lowercase letters and digits joined by single underscores.
SLUG = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
HTML_TAG = re.compile(r"<[a-z].*?>", re.IGNORECASE)
QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")
# A URL with a host name ending in a letter TLD, as hassfest's RE_URL reads it
# (so "http://127.0.0.1:8765" or "mqtts://host:8883" are examples, not links).
URL_IN_TEXT = re.compile(
    r"(?:(?:ftps?|scp|https?|mqtts?|socket|socks5)://|www\.)"
    r"[a-z0-9]+(?:[-.][a-z0-9]+)*\.[a-z]{2,5}(?::\d{1,5})?(?:/\S*)?",
    re.IGNORECASE,
)
REFERENCE = re.compile(r"\[%key:[^%]+%\]")
AWESOME_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _valid_version(value: object) -> bool:
    """Tell whether AwesomeVersion reads ``value`` with hassfest's strategies."""
    if not isinstance(value, str) or not value:
        return False
    try:
        AwesomeVersion(value, ensure_strategy=AWESOME_STRATEGIES)
    except AwesomeVersionException:
        return False
    return True


def _is_url(value: object, *, https_only: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    schemes = {"https"} if https_only else {"http", "https"}
    return parsed.scheme in schemes and bool(parsed.netloc)


def _unknown_keys(where: str, data: Mapping[str, Any], allowed: set[str]) -> Problems:
    return [f"{where}: unknown key {key!r}" for key in data if key not in allowed]


# --------------------------------------------------------------------------
# manifest.json
# --------------------------------------------------------------------------

MANIFEST_KEYS = {
    # INTEGRATION_MANIFEST_SCHEMA, extended for custom integrations.
    "domain", "name", "integration_type", "config_flow", "mqtt", "zeroconf",
    "ssdp", "bluetooth", "homekit", "dhcp", "usb", "documentation",
    "issue_tracker", "quality_scale", "requirements", "dependencies",
    "after_dependencies", "codeowners", "loggers", "disabled", "iot_class",
    "single_config_entry", "preview_features", "version", "import_executor",
}  # fmt: skip
IOT_CLASSES = {
    "assumed_state", "calculated", "cloud_polling", "cloud_push",
    "local_polling", "local_push",
}  # fmt: skip
INTEGRATION_TYPES = {
    "device", "entity", "hardware", "helper", "hub", "service", "system",
}  # fmt: skip
QUALITY_SCALES = {
    "bronze", "silver", "gold", "platinum", "internal", "custom", "no_score",
    "legacy",
}  # fmt: skip
CODEOWNER = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:/[A-Za-z0-9._-]+)?$")


def _string_list(where: str, value: object) -> Problems:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [f"{where} must be a list of strings"]
    return []


def _ha_constraints() -> dict[str, Requirement]:
    """Home Assistant's own pins (package_constraints.txt), by package name."""
    pins: dict[str, Requirement] = {}
    for line in HA_CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        pins[req.name.lower()] = req
    return pins


def check_requirement(text: str, constraints: Mapping[str, Requirement]) -> Problems:
    """A requirement in pinned form.

    hassfest demands ``package==version`` of core integrations only. For a custom
    integration an exact pin would fight Home Assistant's own constraints, so
    the *house rule* is: a valid PEP 508 requirement from PyPI (no URL) that is
    either pinned with ``==`` or bounded on both sides (``>=x,<y``), and that
    accepts the version Home Assistant itself pins, when it pins one.
    """
    try:
        req = Requirement(text)
    except InvalidRequirement as err:
        return [f"requirement {text!r} is not PEP 508: {err}"]
    if req.url:
        return [f"requirement {text!r} points to a URL, not to PyPI"]
    operators = {spec.operator for spec in req.specifier}
    pinned = "==" in operators or "===" in operators
    bounded = bool(operators & {">=", ">", "~="}) and bool(operators & {"<", "<="})
    if not (pinned or bounded or "~=" in operators):
        return [f"requirement {text!r} is neither pinned (==) nor bounded (>=,<)"]
    ha_pin = constraints.get(req.name.lower())
    if ha_pin is not None:
        exact = [s.version for s in ha_pin.specifier if s.operator == "=="]
        for version in exact:
            if not req.specifier.contains(Version(version), prereleases=True):
                return [
                    (
                        f"requirement {text!r} excludes {req.name}=={version}, "
                        "which Home Assistant pins"
                    )
                ]
    return []


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    folder: str = DOMAIN,
    constraints: Mapping[str, Requirement] | None = None,
) -> Problems:
    """Hassfest's manifest rules for a custom integration."""
    problems = _unknown_keys("manifest", manifest, MANIFEST_KEYS)
    for key in ("domain", "name", "codeowners", "documentation", "version"):
        if key not in manifest:
            problems.append(f"manifest: {key!r} is required")
    # HACS requires an issue tracker; hassfest requires an IoT class for
    # every domain that is not an entity platform or a system component.
    for key in ("issue_tracker", "iot_class"):
        if key not in manifest:
            problems.append(f"manifest: {key!r} is required")

    keys = list(manifest)
    expected = sorted(keys, key=lambda k: {"domain": "\0", "name": "\1"}.get(k, k))
    if keys != expected:
        problems.append(
            "manifest: keys are not sorted (domain, name, then alphabetical): "
            f"expected {expected}"
        )

    domain = manifest.get("domain")
    if domain != folder:
        problems.append(f"manifest: domain {domain!r} does not match folder {folder!r}")
    if isinstance(domain, str) and (HA_COMPONENTS / domain).exists():
        problems.append(f"manifest: domain {domain!r} collides with a core integration")
    if "name" in manifest and (
        not isinstance(manifest["name"], str) or not manifest["name"]
    ):
        problems.append("manifest: name must be a non-empty string")

    if "version" in manifest and not _valid_version(manifest["version"]):
        problems.append(f"manifest: version {manifest['version']!r} is not valid")
    doc = manifest.get("documentation")
    if "documentation" in manifest:
        if not _is_url(doc, https_only=True):
            problems.append("manifest: documentation must be an https URL")
        elif str(doc).startswith("https://www.home-assistant.io/integrations"):
            problems.append("manifest: documentation points to home-assistant.io")
    if "issue_tracker" in manifest and not _is_url(manifest["issue_tracker"]):
        problems.append("manifest: issue_tracker must be a URL")

    if "codeowners" in manifest:
        owners = manifest["codeowners"]
        problems += _string_list("manifest: codeowners", owners)
        if isinstance(owners, list):
            if not owners:
                problems.append("manifest: codeowners is empty")
            problems += [
                f"manifest: codeowner {o!r} is not @user or @org/team"
                for o in owners
                if isinstance(o, str) and not CODEOWNER.match(o)
            ]
    if "iot_class" in manifest and manifest["iot_class"] not in IOT_CLASSES:
        problems.append(f"manifest: iot_class {manifest['iot_class']!r} is unknown")
    if "integration_type" in manifest and (
        manifest["integration_type"] not in INTEGRATION_TYPES
    ):
        problems.append(
            f"manifest: integration_type {manifest['integration_type']!r} is unknown"
        )
    if "quality_scale" in manifest and manifest["quality_scale"] not in QUALITY_SCALES:
        problems.append(
            f"manifest: quality_scale {manifest['quality_scale']!r} is unknown"
        )
    for key in ("config_flow", "single_config_entry", "import_executor"):
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"manifest: {key} must be true or false")

    for key in ("requirements", "loggers", "dependencies", "after_dependencies"):
        if key in manifest:
            problems += _string_list(f"manifest: {key}", manifest[key])
    if isinstance(manifest.get("requirements"), list):
        pins = _ha_constraints() if constraints is None else constraints
        for text in manifest["requirements"]:
            if isinstance(text, str):
                problems += [f"manifest: {p}" for p in check_requirement(text, pins)]
    for key in ("dependencies", "after_dependencies"):
        for dep in manifest.get(key) or []:
            if (
                isinstance(dep, str)
                and not (HA_COMPONENTS / dep / "manifest.json").is_file()
            ):
                problems.append(
                    f"manifest: {key} {dep!r} is not a Home Assistant component"
                )
    return problems


# --------------------------------------------------------------------------
# translations/*.json
# --------------------------------------------------------------------------

TOP_LEVEL_SECTIONS = {
    # gen_strings_schema: what a non-core, non-auth integration may carry.
    "title", "config", "config_subentries", "options", "selector", "entity",
    "exceptions", "issues", "services", "device", "device_automation",
    "system_health", "preview_features", "conditions", "triggers", "common",
    "application_credentials", "entity_component",
}  # fmt: skip
FLOW_KEYS = {"flow_title", "step", "error", "abort", "progress", "create_entry",
             "initiate_flow"}  # fmt: skip
STEP_KEYS = {"title", "description", "data", "data_description", "menu_options",
             "menu_option_descriptions", "submit", "sections"}  # fmt: skip
SECTION_KEYS = {"data", "data_description", "description", "name"}
ENTITY_KEYS = {"name", "state", "state_attributes", "unit_of_measurement"}
SELECTOR_KEYS = {"options", "choices", "unit_of_measurement", "fields"}


def _placeholders(text: str) -> tuple[set[str], str | None]:
    """Return the placeholders of a string, or the reason it cannot be parsed."""
    names: set[str] = set()
    try:
        for _, field, _, _ in string.Formatter().parse(text):
            if field is not None:
                names.add(field)
    except ValueError as err:
        return names, f"unbalanced braces ({err})"
    return names, None


def check_value(where: str, value: object, *, placeholders: bool = True) -> Problems:
    """A translated string as hassfest's ``validate_translation_value`` wants it."""
    if not isinstance(value, str):
        return [f"{where}: must be a string"]
    problems: Problems = []
    if not value.strip():
        problems.append(f"{where}: empty string")
    if value != value.strip():
        problems.append(f"{where}: leading or trailing spaces")
    if HTML_TAG.search(value):
        problems.append(f"{where}: contains HTML")
    if QUOTED_PLACEHOLDER.search(value):
        problems.append(f"{where}: placeholder inside single quotes")
    if URL_IN_TEXT.search(value):
        problems.append(f"{where}: contains a URL (use a placeholder)")
    if REFERENCE.search(value):
        # Custom integrations ship a flat en.json: references are not resolved.
        problems.append(f"{where}: [%key:...%] reference in a custom integration")
    names, error = _placeholders(value)
    if error:
        problems.append(f"{where}: {error}")
    for name in names:
        if not name.isidentifier():
            problems.append(f"{where}: placeholder {{{name}}} is not an identifier")
        elif not placeholders:
            problems.append(f"{where}: placeholders are not allowed here")
    return problems


def _walk_keys(data: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield path, key
            yield from _walk_keys(value, f"{path}.{key}" if path else key)


def check_translation_keys(strings: Mapping[str, Any]) -> Problems:
    """House rule (the issue's): every key at every level matches the slug rule."""
    return [
        f"{path or '<root>'}: key {key!r} breaks the translation key rule"
        for path, key in _walk_keys(strings)
        if not TRANSLATION_KEY.match(str(key))
    ]


def _check_value_map(where: str, data: object, **kw: bool) -> Problems:
    if not isinstance(data, dict):
        return [f"{where}: must be a mapping"]
    problems: Problems = []
    for key, value in data.items():
        problems += check_value(f"{where}.{key}", value, **kw)
    return problems


def check_flow(where: str, flow: object, *, subentry: bool = False) -> Problems:
    """A data entry flow (config, options, a subentry type, a repair's fix flow)."""
    if not isinstance(flow, dict):
        return [f"{where}: must be a mapping"]
    allowed = FLOW_KEYS | ({"entry_type"} if subentry else set())
    problems = _unknown_keys(where, flow, allowed)
    if where == "config" and "title" in flow:
        problems.append("config.title: removed; the title comes from the manifest")
    if "step" not in flow:
        problems.append(f"{where}: 'step' is required")
    if subentry:
        if "entry_type" not in flow:
            problems.append(f"{where}: 'entry_type' is required")
        else:
            problems += check_value(f"{where}.entry_type", flow["entry_type"])
        initiate = flow.get("initiate_flow")
        if not isinstance(initiate, dict) or "user" not in initiate:
            problems.append(f"{where}: initiate_flow.user is required")
    if isinstance(flow.get("initiate_flow"), dict):
        problems += _check_value_map(f"{where}.initiate_flow", flow["initiate_flow"])
    for key in ("flow_title",):
        if key in flow:
            problems += check_value(f"{where}.{key}", flow[key])
    for key in ("error", "abort", "progress", "create_entry"):
        if key in flow:
            problems += _check_value_map(f"{where}.{key}", flow[key])
    steps = flow.get("step", {})
    if not isinstance(steps, dict):
        return [*problems, f"{where}.step: must be a mapping"]
    for step_id, step in steps.items():
        at = f"{where}.step.{step_id}"
        if not isinstance(step, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, step, STEP_KEYS)
        for key in ("title", "description", "submit"):
            if key in step:
                problems += check_value(f"{at}.{key}", step[key])
        for key in ("data", "data_description", "menu_options",
                    "menu_option_descriptions"):  # fmt: skip
            if key in step:
                problems += _check_value_map(f"{at}.{key}", step[key])
        problems += [
            f"{at}.data_description.{key}: not in data"
            for key in step.get("data_description", {})
            if key not in step.get("data", {})
        ]
        for name, section in (step.get("sections") or {}).items():
            sat = f"{at}.sections.{name}"
            if not isinstance(section, dict):
                problems.append(f"{sat}: must be a mapping")
                continue
            problems += _unknown_keys(sat, section, SECTION_KEYS)
            for key in ("name", "description"):
                if key in section:
                    problems += check_value(f"{sat}.{key}", section[key])
            for key in ("data", "data_description"):
                if key in section:
                    problems += _check_value_map(f"{sat}.{key}", section[key])
    return problems


def check_translations(strings: Mapping[str, Any]) -> Problems:
    """The structure hassfest's ``gen_strings_schema`` gives ``en.json``."""
    problems = check_translation_keys(strings)
    problems += _unknown_keys("<root>", strings, TOP_LEVEL_SECTIONS)
    if "title" in strings:
        problems += check_value("title", strings["title"])
    for flow in ("config", "options"):
        if flow in strings:
            problems += check_flow(flow, strings[flow])
    for kind, flow in (strings.get("config_subentries") or {}).items():
        if not (kind == "_" or SLUG.match(kind)):
            problems.append(f"config_subentries: {kind!r} is not a slug")
        problems += check_flow(f"config_subentries.{kind}", flow, subentry=True)

    for name, sel in (strings.get("selector") or {}).items():
        at = f"selector.{name}"
        if not (name == "_" or SLUG.match(name)):
            problems.append(f"selector: {name!r} is not a slug")
        if not isinstance(sel, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, sel, SELECTOR_KEYS)
        for key in ("options", "choices", "unit_of_measurement"):
            if key in sel:
                problems += _check_value_map(f"{at}.{key}", sel[key])

    for platform, entities in (strings.get("entity") or {}).items():
        if not SLUG.match(platform):
            problems.append(f"entity: platform {platform!r} is not a slug")
        for key, entity in (entities or {}).items():
            at = f"entity.{platform}.{key}"
            if not isinstance(entity, dict):
                problems.append(f"{at}: must be a mapping")
                continue
            problems += _unknown_keys(at, entity, ENTITY_KEYS)
            if "name" in entity:
                problems += check_value(f"{at}.name", entity["name"])
            if "state" in entity:
                problems += _check_value_map(
                    f"{at}.state", entity["state"], placeholders=False
                )
            if "unit_of_measurement" in entity:
                problems += check_value(
                    f"{at}.unit_of_measurement",
                    entity["unit_of_measurement"],
                    placeholders=False,
                )
            for attr, spec in (entity.get("state_attributes") or {}).items():
                aat = f"{at}.state_attributes.{attr}"
                problems += _unknown_keys(aat, spec, {"name", "state"})
                if "name" in spec:
                    problems += check_value(
                        f"{aat}.name", spec["name"], placeholders=False
                    )
                if "state" in spec:
                    problems += _check_value_map(
                        f"{aat}.state", spec["state"], placeholders=False
                    )

    for key, exc in (strings.get("exceptions") or {}).items():
        at = f"exceptions.{key}"
        if not SLUG.match(key):
            problems.append(f"exceptions: {key!r} is not a slug")
        if not isinstance(exc, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, exc, {"message"})
        if "message" not in exc:
            problems.append(f"{at}: has no message")  # house rule: useless without
        else:
            problems += check_value(f"{at}.message", exc["message"])

    for key, issue in (strings.get("issues") or {}).items():
        at = f"issues.{key}"
        if not isinstance(issue, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, issue, {"title", "description", "fix_flow"})
        if "title" not in issue:
            problems.append(f"{at}: 'title' is required")
        else:
            problems += check_value(f"{at}.title", issue["title"])
        if ("description" in issue) == ("fix_flow" in issue):
            problems.append(f"{at}: needs either a description or a fix_flow")
        if "description" in issue:
            problems += check_value(f"{at}.description", issue["description"])
        if "fix_flow" in issue:
            problems += check_flow(f"{at}.fix_flow", issue["fix_flow"])

    for name, service in (strings.get("services") or {}).items():
        at = f"services.{name}"
        if not isinstance(service, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, service, {"name", "description", "fields",
                                                "sections"})  # fmt: skip
        for key in ("name", "description"):
            if key not in service:
                problems.append(f"{at}: {key!r} is required")
            else:
                problems += check_value(f"{at}.{key}", service[key])
        for field, spec in (service.get("fields") or {}).items():
            fat = f"{at}.fields.{field}"
            problems += _unknown_keys(fat, spec, {"name", "description", "example"})
            for key in ("name", "description"):
                if key not in spec:
                    problems.append(f"{fat}: {key!r} is required")
                else:
                    problems += check_value(f"{fat}.{key}", spec[key])
    return problems


def _leaves(data: object, path: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, data


def check_other_language(
    english: Mapping[str, Any], other: Mapping[str, Any], lang: str
) -> Problems:
    """House rule: a translation only holds keys of en.json, with its placeholders."""
    problems = [f"{lang}: {p}" for p in check_translation_keys(other)]
    reference = dict(_leaves(english))
    for path, value in _leaves(other):
        if path not in reference:
            problems.append(f"{lang}: {path} is not in en.json")
            continue
        problems += [f"{lang}: {p}" for p in check_value(path, value)]
        if isinstance(value, str) and isinstance(reference[path], str):
            mine, _ = _placeholders(value)
            theirs, _ = _placeholders(reference[path])
            if mine != theirs:
                problems.append(
                    f"{lang}: {path} has placeholders {sorted(mine)}, "
                    f"en.json {sorted(theirs)}"
                )
    return problems


# --------------------------------------------------------------------------
# Python sources: what the code registers and uses
# --------------------------------------------------------------------------


def _python_sources() -> dict[str, str]:
    return {
        str(path.relative_to(INTEGRATION)): path.read_text(encoding="utf-8")
        for path in sorted(INTEGRATION.rglob("*.py"))
    }


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg == name), None)


def registered_services(source: str) -> set[str]:
    """Services a module registers: ``hass.services.async_register(DOMAIN, "x", ...)``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and _call_name(node) in {
            "async_register", "register", "async_register_entity_service",
            "async_register_admin_service",
        }):  # fmt: skip
            continue
        func = node.func
        owner = func.value if isinstance(func, ast.Attribute) else None
        # hass.services.async_register(...) or service.async_register_*(hass, ...)
        is_services = isinstance(owner, ast.Attribute) and owner.attr == "services"
        args = list(node.args)
        if not is_services and _call_name(node).startswith("async_register_"):
            args = args[1:]  # the helper takes hass first
        elif not is_services:
            continue
        if len(args) >= 2 and isinstance(args[1], ast.Constant):
            found.add(str(args[1].value))
    return found


def _literal_keys(node: ast.expr | None) -> tuple[str | None, str | None]:
    """A translation key as (exact key, or f-string prefix)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, None
    if isinstance(node, ast.JoinedStr):
        head = node.values[0] if node.values else None
        prefix = head.value if isinstance(head, ast.Constant) else ""
        return None, str(prefix)
    return None, None


def _device_class(node: ast.expr | None) -> str | None:
    """``SensorDeviceClass.POWER`` -> ``"power"``."""
    if isinstance(node, ast.Attribute):
        return node.attr.lower()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


EntityUse = tuple[str, str | None, str | None, str | None]
"""(platform, translation key, f-string prefix, device class)."""


def entity_uses(platform: str, source: str) -> list[EntityUse]:
    """Entities a platform module defines, with their translation keys and device classes.

    Two shapes are read: entity descriptions (a call with ``translation_key=``
    and maybe ``device_class=``) and entity classes (``_attr_translation_key``
    and ``_attr_device_class`` in the class body or a base class of the same
    module). A key built with an f-string is kept as its literal prefix.
    """
    tree = ast.parse(source)
    uses: list[EntityUse] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (kw := _keyword(node, "translation_key")):
            if _keyword(node, "translation_domain") is not None:
                continue  # an exception, not an entity
            key, prefix = _literal_keys(kw)
            if key is not None or prefix:
                uses.append(
                    (
                        platform,
                        key,
                        prefix,
                        _device_class(_keyword(node, "device_class")),
                    )
                )
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def attrs(cls: ast.ClassDef) -> dict[str, ast.expr]:
        found: dict[str, ast.expr] = {}
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                found |= attrs(classes[base.id])
        for stmt in cls.body:
            target = None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name):
                found[target.id] = value
        return found

    for cls in classes.values():
        found = attrs(cls)
        if "_attr_translation_key" in found:
            key, prefix = _literal_keys(found["_attr_translation_key"])
            if key is not None or prefix:
                dc = _device_class(found.get("_attr_device_class"))
                uses.append((platform, key, prefix, dc))
    return uses


def code_translation_keys(source: str) -> dict[str, set[str]]:
    """Literal keys the code uses for exceptions, repair issues and selectors."""
    keys: dict[str, set[str]] = {
        "exceptions": set(),
        "issues": set(),
        "selector": set(),
    }
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        key, _ = _literal_keys(_keyword(node, "translation_key"))
        if key is None:
            continue
        name = _call_name(node)
        if _keyword(node, "translation_domain") is not None:
            keys["exceptions"].add(key)
        elif name == "async_create_issue":
            keys["issues"].add(key)
        elif name.endswith("SelectorConfig"):
            keys["selector"].add(key)
    return keys


def check_code_keys(
    used: Mapping[str, set[str]], strings: Mapping[str, Any]
) -> Problems:
    """House rule: every literal key the code raises or shows has its text."""
    return [
        f"{section}.{key}: used in the code, missing in en.json"
        for section, keys in used.items()
        for key in sorted(keys)
        if key not in (strings.get(section) or {})
    ]


# --------------------------------------------------------------------------
# services.yaml
# --------------------------------------------------------------------------

FIELD_KEYS = {"example", "default", "required", "advanced", "selector", "filter",
              "name", "description"}  # fmt: skip
SECTION_FIELD_KEYS = {"name", "description", "collapsed", "fields"}


def _selector_problem(config: object) -> str | None:
    """Validate a selector with Home Assistant's own selector registry."""
    from homeassistant.helpers import selector  # heavy: imported when needed

    try:
        selector.validate_selector(config)
    except Exception as err:  # noqa: BLE001 - probatio/voluptuous Invalid
        return str(err)
    return None


def _service_fields(service: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, spec in (service.get("fields") or {}).items():
        if isinstance(spec, dict) and "fields" in spec:  # a section
            yield from (spec.get("fields") or {}).items()
        else:
            yield name, spec


def check_services(
    services: Mapping[str, Any] | None,
    registered: set[str],
    strings: Mapping[str, Any],
    icons: Mapping[str, Any],
) -> Problems:
    """services.yaml against the code, the translations and the icons."""
    services = services or {}
    problems: Problems = []
    for name in sorted(registered - set(services)):
        problems.append(f"services.yaml: {name} is registered but not described")
    for name in sorted(set(services) - registered):
        problems.append(f"services.yaml: {name} is described but never registered")
    texts = strings.get("services") or {}
    service_icons = icons.get("services") or {}
    for name in sorted(set(texts) - set(services)):
        problems.append(f"en.json services.{name}: no such service")
    for name, service in services.items():
        at = f"services.yaml {name}"
        if not SLUG.match(name):
            problems.append(f"{at}: not a slug")
        service = {} if service is None else service  # noqa: PLW2901 - None: no fields
        if not isinstance(service, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += _unknown_keys(at, service, {"target", "fields", "name",
                                                "description"})  # fmt: skip
        if name not in service_icons:
            problems.append(f"icons.json services.{name}: missing")
        text = texts.get(name) or {}
        for key in ("name", "description"):
            if key not in text:
                problems.append(f"en.json services.{name}.{key}: missing")
        seen: set[str] = set()
        for field_name, spec in (service.get("fields") or {}).items():
            if isinstance(spec, dict) and "fields" in spec:
                problems += _unknown_keys(
                    f"{at}.{field_name}", spec, SECTION_FIELD_KEYS
                )
        for field_name, spec in _service_fields(service):
            fat = f"{at}.{field_name}"
            if field_name in seen:
                problems.append(f"{fat}: field used twice")
            seen.add(field_name)
            if not isinstance(spec, dict):
                problems.append(f"{fat}: must be a mapping")
                continue
            problems += _unknown_keys(fat, spec, FIELD_KEYS)
            for key in ("example", "default"):
                if key in spec and spec[key] is None:
                    problems.append(f"{fat}.{key}: empty")
            if "selector" not in spec:
                problems.append(f"{fat}: has no selector")
            elif error := _selector_problem(spec["selector"]):
                problems.append(f"{fat}: invalid selector: {error}")
            else:
                select = spec["selector"].get("select") or {}
                key = (
                    select.get("translation_key") if isinstance(select, dict) else None
                )
                if key and key not in (strings.get("selector") or {}):
                    problems.append(f"{fat}: selector translation {key!r} missing")
            field_text = (text.get("fields") or {}).get(field_name) or {}
            for key in ("name", "description"):
                if key not in field_text:
                    problems.append(
                        f"en.json services.{name}.fields.{field_name}.{key}: missing"
                    )
        for field_name in text.get("fields") or {}:
            if field_name not in seen:
                problems.append(
                    f"en.json services.{name}.fields.{field_name}: no such field"
                )
    for name in sorted(set(service_icons) - set(services)):
        problems.append(f"icons.json services.{name}: no such service")
    return problems


# --------------------------------------------------------------------------
# icons.json
# --------------------------------------------------------------------------

ICON_ENTRY_KEYS = {"default", "state", "state_attributes"}


def _ha_component_icons(platform: str) -> dict[str, Any]:
    """The device-class icons of a Home Assistant entity component (``entity_component``)."""
    path = HA_COMPONENTS / platform / "icons.json"
    if not path.is_file():
        return {}
    return dict(_load_json(path).get("entity_component") or {})


def _icon_problem(where: str, value: object) -> Problems:
    if not isinstance(value, str) or not value.startswith("mdi:") or len(value) <= 4:
        return [f"{where}: {value!r} is not an mdi: icon"]
    if HTML_TAG.search(value):
        return [f"{where}: contains HTML"]
    return []


def _entry_icons(where: str, entry: object) -> Problems:
    if not isinstance(entry, dict):
        return [f"{where}: must be a mapping"]
    problems = _unknown_keys(where, entry, ICON_ENTRY_KEYS)
    if "default" in entry:
        problems += _icon_problem(f"{where}.default", entry["default"])
    for state, icon in (entry.get("state") or {}).items():
        if not TRANSLATION_KEY.match(state):
            problems.append(f"{where}.state: key {state!r} breaks the key rule")
        problems += _icon_problem(f"{where}.state.{state}", icon)
        if icon == entry.get("default"):
            problems.append(f"{where}.state.{state}: repeats the default icon {icon}")
    for attr, spec in (entry.get("state_attributes") or {}).items():
        problems += _entry_icons(f"{where}.state_attributes.{attr}", spec)
    return problems


def check_icons(
    icons: Mapping[str, Any],
    strings: Mapping[str, Any],
    uses: list[EntityUse],
    component_icons: Mapping[str, Mapping[str, Any]],
) -> Problems:
    """icons.json: form, keys in use, no icon repeating a default.

    A state icon equal to the entry's own default is hassfest's
    ``ensure_not_same_as_default``. The *house rule* goes further: an entry's
    icons must not repeat the icons Home Assistant already shows for the
    entity's device class (``component_icons``: the ``entity_component``
    block of ``homeassistant/components/<platform>/icons.json``; ``_`` when the
    entity has no device class), since such an entry changes nothing.
    """
    problems = _unknown_keys("icons.json", icons, {"entity", "services", "config",
                                                   "options", "issues"})  # fmt: skip
    for name, value in (icons.get("services") or {}).items():
        at = f"icons.json services.{name}"
        if isinstance(value, str):
            problems += _icon_problem(at, value)
        elif isinstance(value, dict):
            problems += _unknown_keys(at, value, {"service", "sections"})
            if "service" not in value:
                problems.append(f"{at}: has no 'service' icon")
            else:
                problems += _icon_problem(f"{at}.service", value["service"])
            for section, icon in (value.get("sections") or {}).items():
                problems += _icon_problem(f"{at}.sections.{section}", icon)
        else:
            problems.append(f"{at}: must be an icon or a mapping")

    texts = strings.get("entity") or {}
    for platform, entries in (icons.get("entity") or {}).items():
        if not SLUG.match(platform):
            problems.append(f"icons.json entity: platform {platform!r} is not a slug")
        for key, entry in (entries or {}).items():
            at = f"icons.json entity.{platform}.{key}"
            if not TRANSLATION_KEY.match(key):
                problems.append(f"{at}: key breaks the translation key rule")
            problems += _entry_icons(at, entry)
            text = (texts.get(platform) or {}).get(key)
            if text is None:
                problems.append(f"{at}: no entity.{platform}.{key} in en.json")
            elif isinstance(entry, dict) and isinstance(text.get("state"), dict):
                problems += [
                    f"{at}.state.{state}: not a state in en.json"
                    for state in entry.get("state") or {}
                    if state not in text["state"]
                ]
            in_use = [
                use
                for use in uses
                if use[0] == platform
                and (use[1] == key or (use[2] and key.startswith(use[2])))
            ]
            if not in_use:
                problems.append(f"{at}: no entity uses this translation key")
            ha = component_icons.get(platform) or {}
            for _, _, _, device_class in in_use:
                base = ha.get(device_class or "_") or ha.get("_") or {}
                label = device_class or "no device class"
                if not isinstance(entry, dict):
                    continue
                if entry.get("default") and entry.get("default") == base.get("default"):
                    problems.append(
                        f"{at}.default: {entry['default']} is already the icon of "
                        f"{platform} ({label})"
                    )
                for state, icon in (entry.get("state") or {}).items():
                    if icon == (base.get("state") or {}).get(state):
                        problems.append(
                            f"{at}.state.{state}: {icon} is already the icon of "
                            f"{platform} ({label})"
                        )
    for platform, key, prefix, _ in uses:
        if key is not None and key not in (texts.get(platform) or {}):
            problems.append(f"en.json entity.{platform}.{key}: used, not translated")
        if prefix and not any(k.startswith(prefix) for k in texts.get(platform) or {}):
            problems.append(
                f"en.json entity.{platform}.{prefix}*: used, not translated"
            )
    return problems


# --------------------------------------------------------------------------
# quality_scale.yaml
# --------------------------------------------------------------------------

TIERS = ("bronze", "silver", "gold", "platinum")
# ALL_RULES of hassfest's quality_scale.py (HA 2026.10), by tier.
QUALITY_RULES: dict[str, str] = {
    **dict.fromkeys([
        "action-setup", "appropriate-polling", "brands", "common-modules",
        "config-flow", "config-flow-test-coverage", "dependency-transparency",
        "docs-actions", "docs-conditions", "docs-high-level-description",
        "docs-installation-instructions", "docs-removal-instructions",
        "docs-triggers", "entity-event-setup", "entity-unique-id",
        "has-entity-name", "runtime-data", "test-before-configure",
        "test-before-setup", "unique-config-entry",
    ], "bronze"),
    **dict.fromkeys([
        "action-exceptions", "config-entry-unloading",
        "docs-configuration-parameters", "docs-installation-parameters",
        "entity-unavailable", "integration-owner", "log-when-unavailable",
        "parallel-updates", "reauthentication-flow", "test-coverage",
    ], "silver"),
    **dict.fromkeys([
        "devices", "diagnostics", "discovery", "discovery-update-info",
        "docs-data-update", "docs-examples", "docs-known-limitations",
        "docs-supported-devices", "docs-supported-functions",
        "docs-troubleshooting", "docs-use-cases", "dynamic-devices",
        "entity-category", "entity-device-class", "entity-disabled-by-default",
        "entity-translations", "exception-translations", "icon-translations",
        "reconfiguration-flow", "repair-issues", "stale-devices",
    ], "gold"),
    **dict.fromkeys([
        "async-dependency", "inject-websession", "strict-typing",
    ], "platinum"),
}  # fmt: skip


def check_quality_scale(data: object, declared: str | None) -> Problems:
    """Hassfest's SCHEMA, its tier rule, and the house rule that every rule is listed."""
    if not isinstance(data, dict):
        return ["quality_scale.yaml: must be a mapping"]
    problems = _unknown_keys("quality_scale.yaml", data, {"rules"})
    rules = data.get("rules")
    if not isinstance(rules, dict):
        return [*problems, "quality_scale.yaml: 'rules' is required"]
    met: set[str] = set()
    for name, value in rules.items():
        at = f"quality_scale.yaml {name}"
        if name not in QUALITY_RULES:
            problems.append(f"{at}: not a rule of the quality scale")
            continue
        if isinstance(value, str):
            status, comment = value, None
            if status == "exempt":
                problems.append(f"{at}: exempt needs a comment")
        elif isinstance(value, dict):
            problems += _unknown_keys(at, value, {"status", "comment"})
            status, comment = value.get("status"), value.get("comment")
            if "comment" in value and not isinstance(comment, str):
                problems.append(f"{at}: comment must be text")
            if status == "exempt" and not (
                isinstance(comment, str) and comment.strip()
            ):
                problems.append(f"{at}: exempt needs a comment")
        else:
            problems.append(f"{at}: must be a status or a mapping")
            continue
        if status not in {"done", "todo", "exempt"}:
            problems.append(f"{at}: status {status!r} is not done, todo or exempt")
        elif status != "todo":
            met.add(name)
    problems += [
        f"quality_scale.yaml {name}: missing"
        for name in QUALITY_RULES
        if name not in rules
    ]
    if declared in TIERS:
        needed = TIERS[: TIERS.index(declared) + 1]
        problems += [
            f"quality_scale.yaml {name}: {declared} needs it done or exempt"
            for name, tier in QUALITY_RULES.items()
            if tier in needed and name not in met
        ]
    return problems


# --------------------------------------------------------------------------
# hacs.json
# --------------------------------------------------------------------------

HACS_KEYS = {"name", "content_in_root", "country", "filename", "hacs",
             "hide_default_branch", "homeassistant", "persistent_directory",
             "render_readme", "zip_release"}  # fmt: skip
# The countries GridFlex serves (README "Supported platforms").
COUNTRIES_SERVED = {"BE", "NL", "LU", "FR", "GB", "IE", "IT", "ES", "NO"}


def check_hacs(data: object) -> Problems:
    """HACS_MANIFEST_JSON_SCHEMA (unknown keys refused) and our countries."""
    if not isinstance(data, dict):
        return ["hacs.json: must be a mapping"]
    problems = _unknown_keys("hacs.json", data, HACS_KEYS)
    if not isinstance(data.get("name"), str) or not data.get("name"):
        problems.append("hacs.json: 'name' is required")
    for key in (
        "content_in_root",
        "hide_default_branch",
        "render_readme",
        "zip_release",
    ):
        if key in data and not isinstance(data[key], bool):
            problems.append(f"hacs.json: {key} must be true or false")
    for key in ("filename", "persistent_directory"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"hacs.json: {key} must be text")
    if data.get("zip_release") and "filename" not in data:
        problems.append("hacs.json: zip_release needs filename")
    for key in ("homeassistant", "hacs"):
        if key in data and not _valid_version(data[key]):
            problems.append(f"hacs.json: {key} {data[key]!r} is not a version")
    country = data.get("country")
    codes = [country] if isinstance(country, str) else country
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        problems.append("hacs.json: country must be a code or a list of codes")
    else:
        problems += [
            f"hacs.json: country {c!r} is not an ISO 3166-1 alpha-2 code"
            for c in codes
            if c not in COUNTRIES
        ]
        if set(codes) != COUNTRIES_SERVED:
            problems.append(
                f"hacs.json: country {sorted(codes)} is not the countries served "
                f"{sorted(COUNTRIES_SERVED)}"
            )
    return problems


# --------------------------------------------------------------------------
# GitHub workflows
# --------------------------------------------------------------------------


def _steps(workflow: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for job in (workflow.get("jobs") or {}).values()
        for step in (job.get("steps") or [])
        if isinstance(step, dict)
    ]


def check_workflow_shape(name: str, workflow: object) -> Problems:
    """A workflow GitHub accepts: triggers, and jobs with a runner and steps."""
    if not isinstance(workflow, dict):
        return [f"{name}: not a mapping"]
    problems: Problems = []
    # YAML 1.1 reads the bare key ``on`` as true.
    if "on" not in workflow and True not in workflow:
        problems.append(f"{name}: no 'on' triggers")
    jobs = workflow.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return [*problems, f"{name}: no jobs"]
    for job_id, job in jobs.items():
        if not isinstance(job, dict) or "runs-on" not in job:
            problems.append(f"{name}: job {job_id} has no runs-on")
            continue
        steps = job.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append(f"{name}: job {job_id} has no steps")
            continue
        for step in steps:
            if not isinstance(step, dict) or ("uses" in step) == ("run" in step):
                problems.append(f"{name}: job {job_id} has a step without one uses/run")
    return problems


def check_validate_workflow(workflow: Mapping[str, Any]) -> Problems:
    """Hassfest and the HACS action (category integration)."""
    problems = check_workflow_shape("validate.yml", workflow)
    uses = {step.get("uses"): step for step in _steps(workflow)}
    if "home-assistant/actions/hassfest@master" not in uses:
        problems.append("validate.yml: no home-assistant/actions/hassfest@master step")
    hacs = uses.get("hacs/action@main")
    if hacs is None:
        problems.append("validate.yml: no hacs/action@main step")
    elif (hacs.get("with") or {}).get("category") != "integration":
        problems.append("validate.yml: hacs/action needs category: integration")
    elif (hacs.get("with") or {}).get("ignore"):
        problems.append("validate.yml: hacs/action must run with no ignores")
    return problems


def check_tests_workflow(workflow: Mapping[str, Any]) -> Problems:
    """Python 3.14, Mosquitto and scripts/test, as in .ci/run."""
    problems = check_workflow_shape("tests.yml", workflow)
    steps = _steps(workflow)
    python = [
        s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")
    ]
    if not python or str((python[0].get("with") or {}).get("python-version")) != "3.14":
        problems.append(
            "tests.yml: no actions/setup-python step with python-version 3.14"
        )
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    if not re.search(r"apt-get install[^\n]*\bmosquitto\b", runs):
        problems.append("tests.yml: mosquitto is not installed")
    if not re.search(r"(^|\s)(bash )?scripts/test(\s|$)", runs):
        problems.append("tests.yml: scripts/test is not run")
    if not any(str(s.get("uses", "")).startswith("actions/checkout@") for s in steps):
        problems.append("tests.yml: the repository is not checked out")
    return problems


# --------------------------------------------------------------------------
# Release: one version everywhere
# --------------------------------------------------------------------------


def check_release(
    manifest_version: str, pyproject_version: str, changelog: str
) -> Problems:
    """manifest.json and pyproject.toml agree, and CHANGELOG.md has the release."""
    problems: Problems = []
    if manifest_version != pyproject_version:
        problems.append(
            f"manifest.json version {manifest_version} != pyproject.toml {pyproject_version}"
        )
    if not re.search(r"^## \[Unreleased\]", changelog, re.MULTILINE):
        problems.append("CHANGELOG.md: no '## [Unreleased]' section")
    # A released version has its date; the version being prepared (not tagged
    # yet) says "Unreleased" until its release (docs/releasing.md).
    if not re.search(
        rf"^## \[{re.escape(manifest_version)}\] - (\d{{4}}-\d{{2}}-\d{{2}}|Unreleased)$",
        changelog,
        re.MULTILINE,
    ):
        problems.append(
            f"CHANGELOG.md: no '## [{manifest_version}] - YYYY-MM-DD' section"
        )
    return problems


# ==========================================================================
# The real files
# ==========================================================================


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return dict(_load_json(INTEGRATION / "manifest.json"))


@pytest.fixture(scope="module")
def strings() -> dict[str, Any]:
    return dict(_load_json(INTEGRATION / "translations" / "en.json"))


@pytest.fixture(scope="module")
def icons() -> dict[str, Any]:
    return dict(_load_json(INTEGRATION / "icons.json"))


@pytest.fixture(scope="module")
def services_yaml() -> dict[str, Any]:
    return dict(_load_yaml(INTEGRATION / "services.yaml") or {})


ENTITY_MODULES: dict[str, str] = {
    "price_signal": "sensor",
    "lpc_energy": "sensor",
    "compensation_sensors": "sensor",
    "programme_entities": "binary_sensor",
}
"""Modules that hold entity classes of a platform outside its platform module."""


@pytest.fixture(scope="module")
def uses() -> list[EntityUse]:
    found: list[EntityUse] = []
    for path in sorted(INTEGRATION.glob("*.py")):
        if (HA_COMPONENTS / path.stem / "icons.json").is_file():  # an entity platform
            found += entity_uses(path.stem, path.read_text(encoding="utf-8"))
        elif (platform := ENTITY_MODULES.get(path.stem)) is not None:
            found += entity_uses(platform, path.read_text(encoding="utf-8"))
    return found


@pytest.fixture(scope="module")
def component_icons(uses: list[EntityUse]) -> dict[str, dict[str, Any]]:
    return {platform: _ha_component_icons(platform) for platform, *_ in uses}


def test_manifest(manifest: dict[str, Any]) -> None:
    assert check_manifest(manifest) == []


# Problems the checks found in files this module's author may not edit (the
# translations); reported to be fixed there. Each entry must still be found:
# once fixed, the test fails until the entry is removed here.
KNOWN_PROBLEMS_EN: set[str] = set()
"""Problems found in en.json and not fixed yet (none)."""
KNOWN_PROBLEMS_OTHER: set[str] = set()  # without the "<lang>: " prefix


def _unwaived(problems: Problems, known: set[str], lang: str | None = None) -> Problems:
    prefix = f"{lang}: " if lang else ""
    found = {p.removeprefix(prefix) for p in problems}
    new = sorted(p for p in found if p not in known)
    if lang is None:  # en.json: every waived problem must still be there
        new += [
            f"fixed, remove from KNOWN_PROBLEMS_EN: {p}" for p in sorted(known - found)
        ]
    return new


def test_translations_en(strings: dict[str, Any]) -> None:
    assert _unwaived(check_translations(strings), KNOWN_PROBLEMS_EN) == []


OTHER_LANGUAGES = sorted(
    p.stem for p in (INTEGRATION / "translations").glob("*.json") if p.stem != "en"
)


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
def test_translations_other_languages(strings: dict[str, Any], lang: str) -> None:
    other = _load_json(INTEGRATION / "translations" / f"{lang}.json")
    problems = check_other_language(strings, other, lang)
    assert _unwaived(problems, KNOWN_PROBLEMS_OTHER, lang) == []


def test_translation_files() -> None:
    folder = INTEGRATION / "translations"
    assert (folder / "en.json").is_file()
    assert not (INTEGRATION / "strings.json").exists()  # custom: en.json only
    # Home Assistant loads translations/<language>.json: BCP 47 names only.
    names = [p.name for p in folder.iterdir()]
    assert all(re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]+)*\.json", n) for n in names), (
        names
    )


def test_code_keys_are_translated(strings: dict[str, Any]) -> None:
    used: dict[str, set[str]] = {
        "exceptions": set(),
        "issues": set(),
        "selector": set(),
    }
    for source in _python_sources().values():
        for section, keys in code_translation_keys(source).items():
            used[section] |= keys
    assert used["exceptions"], "the scan found no translated exception at all"
    assert check_code_keys(used, strings) == []


def test_services(
    services_yaml: dict[str, Any], strings: dict[str, Any], icons: dict[str, Any]
) -> None:
    registered: set[str] = set()
    for source in _python_sources().values():
        registered |= registered_services(source)
    assert registered, "the scan found no registered service at all"
    assert check_services(services_yaml, registered, strings, icons) == []


def test_icons(
    icons: dict[str, Any],
    strings: dict[str, Any],
    uses: list[EntityUse],
    component_icons: dict[str, dict[str, Any]],
) -> None:
    platforms = {use[0] for use in uses}
    assert {"sensor", "binary_sensor"} <= platforms
    assert ("sensor", "power_limit", None, "power") in uses
    assert ("binary_sensor", "platform_reachable", None, "connectivity") in uses
    assert check_icons(icons, strings, uses, component_icons) == []


def test_quality_scale(manifest: dict[str, Any]) -> None:
    assert len(QUALITY_RULES) == 54
    data = _load_yaml(INTEGRATION / "quality_scale.yaml")
    assert check_quality_scale(data, manifest.get("quality_scale")) == []


def test_hacs_json() -> None:
    assert check_hacs(_load_json(ROOT / "hacs.json")) == []


def test_workflows_parse_and_match_the_scripts() -> None:
    workflows = ROOT / ".github" / "workflows"
    for path in workflows.glob("*.y*ml"):
        assert check_workflow_shape(path.name, _load_yaml(path)) == [], path
    assert check_validate_workflow(_load_yaml(workflows / "validate.yml")) == []
    assert check_tests_workflow(_load_yaml(workflows / "tests.yml")) == []
    script = ROOT / "scripts" / "test"
    assert script.is_file()
    assert script.stat().st_mode & 0o111, "scripts/test is not executable"


def test_one_manifest_in_the_repository() -> None:
    """Hassfest's image validates every manifest.json under the workspace."""
    skip = {".venv", "venv", "config", ".git", "node_modules", ".mypy_cache",
            ".ruff_cache", ".hypothesis", "__pycache__"}  # fmt: skip
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip]
        if "manifest.json" in files:
            found.append(Path(folder, "manifest.json").relative_to(ROOT))
    assert found == [Path("custom_components/gridflex/manifest.json")]


def test_release_version(manifest: dict[str, Any]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert (
        check_release(manifest["version"], pyproject["project"]["version"], changelog)
        == []
    )


# ==========================================================================
# Each rule can fail: broken samples
# ==========================================================================


def _changed(data: Mapping[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of ``data`` with ``path`` (dotted) set to ``value``, or removed."""
    result = copy.deepcopy(dict(data))
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return result


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("version", _DELETE, "'version' is required"),
        ("version", "not a version!", "is not valid"),
        ("documentation", _DELETE, "'documentation' is required"),
        ("documentation", "http://example.com", "https URL"),
        (
            "documentation",
            "https://www.home-assistant.io/integrations/x",
            "home-assistant.io",
        ),
        ("issue_tracker", _DELETE, "'issue_tracker' is required"),
        ("issue_tracker", "not a url", "issue_tracker must be a URL"),
        ("codeowners", [], "codeowners is empty"),
        ("codeowners", ["gridflex"], "is not @user"),
        ("iot_class", "cloud_magic", "iot_class 'cloud_magic' is unknown"),
        ("iot_class", _DELETE, "'iot_class' is required"),
        ("config_flow", "yes", "config_flow must be true or false"),
        ("integration_type", "gadget", "integration_type 'gadget' is unknown"),
        ("quality_scale", "diamond", "quality_scale 'diamond' is unknown"),
        ("requirements", ["aiomqtt"], "neither pinned"),
        ("requirements", ["aiomqtt>=2"], "neither pinned"),
        ("requirements", ["aiomqtt @ https://x.invalid/a.zip"], "URL"),
        ("requirements", ["not a requirement!"], "not PEP 508"),
        ("loggers", "aiomqtt", "loggers must be a list"),
        ("dependencies", ["http", "no_such_component"], "'no_such_component' is not"),
        ("after_dependencies", ["no_such_component"], "'no_such_component' is not"),
        ("domain", "gridflux", "does not match folder"),
        ("categories", ["energy"], "unknown key 'categories'"),
    ],
)
def test_manifest_rules_fail(
    manifest: dict[str, Any], path: str, value: object, expected: str
) -> None:
    problems = check_manifest(_changed(manifest, path, value))
    assert any(expected in p for p in problems), problems


def test_manifest_key_order_and_core_domain_fail(manifest: dict[str, Any]) -> None:
    unsorted = {"name": manifest["name"], **manifest}
    assert any("not sorted" in p for p in check_manifest(unsorted))
    moved = dict(sorted(manifest.items()))  # "after_dependencies" before "domain"
    assert any("not sorted" in p for p in check_manifest(moved))
    core = {**manifest, "domain": "sensor"}
    assert any("collides" in p for p in check_manifest(core, folder="sensor"))


def test_requirement_against_home_assistant_pin() -> None:
    pins = {"aiomqtt": Requirement("aiomqtt==3.1.0")}
    assert any(
        "Home Assistant pins" in p for p in check_requirement("aiomqtt>=2.5,<3", pins)
    )
    assert check_requirement("aiomqtt>=2.5,<4", pins) == []
    assert check_requirement("aiomqtt==3.1.0", pins) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("entity.sensor.Site_Status", {"name": "X"}, "breaks the translation key rule"),
        (
            "entity.sensor.site__status",
            {"name": "X"},
            "breaks the translation key rule",
        ),
        (
            "entity.sensor.site_status.state.-paused",
            "X",
            "breaks the translation key rule",
        ),
        ("selector.country.options.BE", "Belgium", "breaks the translation key rule"),
        ("exceptions.cannot_connect.message", "", "empty string"),
        ("exceptions.cannot_connect.message", " Cannot connect", "leading or trailing"),
        ("exceptions.cannot_connect.message", "Cannot {connect", "unbalanced braces"),
        ("exceptions.cannot_connect.message", "Error }", "unbalanced braces"),
        ("exceptions.cannot_connect.message", "Code '{code}'", "single quotes"),
        ("exceptions.cannot_connect.message", "Bad {1st}", "not an identifier"),
        ("exceptions.cannot_connect.message", "See <b>this</b>", "HTML"),
        ("exceptions.cannot_connect.message", "See https://x.org/a", "URL"),
        ("exceptions.cannot_connect.message", "[%key:common::x%]", "reference"),
        ("exceptions.cannot_connect", {}, "has no message"),
        ("exceptions.cannot_connect", {"message": "x", "title": "y"}, "unknown key"),
        ("entity.sensor.site_status.state.paused", "Paused {x}", "not allowed here"),
        ("entity.sensor.site_status.icon", "mdi:x", "unknown key 'icon'"),
        ("issues.no_contract.title", _DELETE, "'title' is required"),
        (
            "issues.no_contract.fix_flow",
            {"step": {}},
            "either a description or a fix_flow",
        ),
        ("services.decline_event.name", _DELETE, "'name' is required"),
        (
            "services.decline_event.fields.event_id.description",
            _DELETE,
            "'description'",
        ),
        ("config.title", "GridFlex", "config.title: removed"),
        ("config.step", _DELETE, "'step' is required"),
        ("config_subentries.resource.entry_type", _DELETE, "'entry_type' is required"),
        ("unknown_section", {}, "unknown key 'unknown_section'"),
    ],
)
def test_translation_rules_fail(
    strings: dict[str, Any], path: str, value: object, expected: str
) -> None:
    problems = check_translations(_changed(strings, path, value))
    assert any(expected in p for p in problems), problems


def test_data_description_without_data_fails() -> None:
    flow = {"step": {"user": {"data": {"a": "A"}, "data_description": {"b": "B"}}}}
    assert any("not in data" in p for p in check_flow("config", flow))


def test_other_language_rules_fail(strings: dict[str, Any]) -> None:
    stray = {"exceptions": {"no_such_key": {"message": "x"}}}
    assert any(
        "not in en.json" in p for p in check_other_language(strings, stray, "nl")
    )
    message = strings["issues"]["no_contract"]["title"]  # has {site}
    lost = {"issues": {"no_contract": {"title": message.replace("{site}", "site")}}}
    assert any("placeholders" in p for p in check_other_language(strings, lost, "nl"))


def test_code_key_rules_fail() -> None:
    source = (
        "raise HomeAssistantError(translation_domain=DOMAIN, translation_key='gone')\n"
        "ir.async_create_issue(hass, DOMAIN, 'x', translation_key='vanished')\n"
        "SelectSelectorConfig(options=[], translation_key='lost')\n"
    )
    used = code_translation_keys(source)
    assert used == {
        "exceptions": {"gone"},
        "issues": {"vanished"},
        "selector": {"lost"},
    }
    assert len(check_code_keys(used, {})) == 3


def test_registered_services_scan() -> None:
    source = (
        "hass.services.async_register(DOMAIN, 'one', h, S)\n"
        "hass.services.async_register(\n    DOMAIN,\n    'two',\n    h,\n)\n"
        "service.async_register_admin_service(hass, DOMAIN, 'three', h)\n"
        "webhook.async_register(hass, DOMAIN, 'Name', webhook_id, handler)\n"
    )
    assert registered_services(source) == {"one", "two", "three"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda y, r, s, i: r.add("ghost"), "ghost is registered but not described"),
        (
            lambda y, r, s, i: r.discard("decline_event"),
            "described but never registered",
        ),
        (
            lambda y, r, s, i: y["decline_event"]["fields"]["event_id"].pop("selector"),
            "has no selector",
        ),
        (
            lambda y, r, s, i: y["decline_event"]["fields"]["event_id"].update(
                selector={"no_such_selector": {}}
            ),
            "invalid selector",
        ),
        (
            lambda y, r, s, i: y["decline_event"].update(icon="mdi:x"),
            "unknown key 'icon'",
        ),
        (
            lambda y, r, s, i: i["services"].pop("decline_event"),
            "services.decline_event: missing",
        ),
        (
            lambda y, r, s, i: i["services"].update(ghost={"service": "mdi:ghost"}),
            "services.ghost: no such service",
        ),
        (
            lambda y, r, s, i: s["services"]["decline_event"].pop("description"),
            "services.decline_event.description: missing",
        ),
        (
            lambda y, r, s, i: s["services"]["decline_event"]["fields"].pop("event_id"),
            "fields.event_id.name: missing",
        ),
        (
            lambda y, r, s, i: s["services"]["decline_event"]["fields"].update(
                extra={"name": "E", "description": "E"}
            ),
            "fields.extra: no such field",
        ),
        (
            lambda y, r, s, i: y["decline_event"]["fields"]["event_id"].update(
                selector={"select": {"options": ["a"], "translation_key": "nope"}}
            ),
            "selector translation 'nope' missing",
        ),
    ],
)
def test_service_rules_fail(
    services_yaml: dict[str, Any],
    strings: dict[str, Any],
    icons: dict[str, Any],
    change: Any,
    expected: str,
) -> None:
    yaml_copy, strings_copy, icons_copy = (
        copy.deepcopy(services_yaml),
        copy.deepcopy(strings),
        copy.deepcopy(icons),
    )
    registered = set(services_yaml)
    change(yaml_copy, registered, strings_copy, icons_copy)
    problems = check_services(yaml_copy, registered, strings_copy, icons_copy)
    assert any(expected in p for p in problems), problems


def test_entity_uses_scan() -> None:
    source = (
        "class Base(SensorEntity):\n"
        "    _attr_device_class = SensorDeviceClass.POWER\n"
        "class Limit(Base):\n"
        "    _attr_translation_key = 'limit'\n"
        "D = SensorEntityDescription(key='x', translation_key=f'health_{c}',\n"
        "    device_class=SensorDeviceClass.ENUM)\n"
        "raise HomeAssistantError(translation_domain=DOMAIN, translation_key='e')\n"
    )
    assert sorted(entity_uses("sensor", source), key=str) == sorted(
        [("sensor", "limit", None, "power"), ("sensor", None, "health_", "enum")],
        key=str,
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "entity.sensor.health_bids.state",
            {"no_bids": "mdi:gavel", "ok": "mdi:x"},
            "repeats the default icon",
        ),
        (
            "entity.sensor.power_limit.default",
            "mdi:flash",
            "already the icon of sensor (power)",
        ),
        (
            "entity.binary_sensor.platform_reachable.default",
            "mdi:close-network-outline",
            "already the icon of binary_sensor (connectivity)",
        ),
        (
            "entity.binary_sensor.platform_reachable.state",
            {"on": "mdi:check-network-outline"},
            "already the icon of binary_sensor",
        ),
        ("entity.sensor.last_sync.default", "mdi:clock", "(timestamp)"),
        ("entity.sensor.limit_usage.default", "mdi:eye", "(no device class)"),
        ("entity.sensor.site_status.default", "cloud", "is not an mdi: icon"),
        ("entity.sensor.site_status.state.Paused", "mdi:pause", "breaks the key rule"),
        (
            "entity.sensor.site_status.state.exploded",
            "mdi:bomb",
            "not a state in en.json",
        ),
        (
            "entity.sensor.ghost",
            {"default": "mdi:ghost"},
            "no entity.sensor.ghost in en.json",
        ),
        ("entity.sensor.site_status.range", {"0": "mdi:x"}, "unknown key 'range'"),
        ("services.decline_event", {"icon": "mdi:x"}, "has no 'service' icon"),
        ("entities", {}, "unknown key 'entities'"),
    ],
)
def test_icon_rules_fail(
    icons: dict[str, Any],
    strings: dict[str, Any],
    uses: list[EntityUse],
    component_icons: dict[str, dict[str, Any]],
    path: str,
    value: object,
    expected: str,
) -> None:
    problems = check_icons(_changed(icons, path, value), strings, uses, component_icons)
    assert any(expected in p for p in problems), problems


def test_icon_key_without_entity_fails(
    icons: dict[str, Any],
    strings: dict[str, Any],
    component_icons: dict[str, dict[str, Any]],
) -> None:
    problems = check_icons(icons, strings, [], component_icons)
    assert any("no entity uses this translation key" in p for p in problems)
    untranslated = [("sensor", "nameless", None, None)]
    problems = check_icons({}, strings, untranslated, component_icons)
    assert problems == ["en.json entity.sensor.nameless: used, not translated"]


@pytest.mark.parametrize(
    ("change", "declared", "expected"),
    [
        ({"brands": _DELETE}, None, "brands: missing"),
        ({"brands": "maybe"}, None, "is not done, todo or exempt"),
        ({"brands": "exempt"}, None, "exempt needs a comment"),
        ({"brands": {"status": "exempt"}}, None, "exempt needs a comment"),
        (
            {"brands": {"status": "exempt", "comment": " "}},
            None,
            "exempt needs a comment",
        ),
        ({"brands": {"status": "done", "why": "x"}}, None, "unknown key 'why'"),
        ({"config_flow": "done"}, None, "not a rule of the quality scale"),
        ({"strict-typing": "todo"}, "platinum", "platinum needs it done or exempt"),
        ({"test-coverage": "todo"}, "gold", "gold needs it done or exempt"),
    ],
)
def test_quality_scale_rules_fail(change: dict[str, Any], declared: str | None,
                                  expected: str) -> None:  # fmt: skip
    rules: dict[str, Any] = dict.fromkeys(QUALITY_RULES, "done")
    for name, value in change.items():
        if value is _DELETE:
            del rules[name]
        else:
            rules[name] = value
    problems = check_quality_scale({"rules": rules}, declared)
    assert any(expected in p for p in problems), problems
    assert (
        check_quality_scale({"rules": dict.fromkeys(QUALITY_RULES, "todo")}, None) == []
    )
    assert check_quality_scale({}, None) == ["quality_scale.yaml: 'rules' is required"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": _DELETE}, "'name' is required"),
        ({"country": ["BE", "UK"]}, "'UK' is not an ISO"),
        ({"country": ["BE"]}, "is not the countries served"),
        ({"country": 32}, "code or a list"),
        ({"homeassistant": "twenty"}, "not a version"),
        ({"render_readme": "yes"}, "render_readme must be true or false"),
        ({"zip_release": True}, "zip_release needs filename"),
        ({"domains": ["sensor"]}, "unknown key 'domains'"),
    ],
)
def test_hacs_rules_fail(change: dict[str, Any], expected: str) -> None:
    data = dict(_load_json(ROOT / "hacs.json"))
    for key, value in change.items():
        if value is _DELETE:
            del data[key]
        else:
            data[key] = value
    problems = check_hacs(data)
    assert any(expected in p for p in problems), problems


def test_workflow_rules_fail() -> None:
    workflows = ROOT / ".github" / "workflows"
    validate = _load_yaml(workflows / "validate.yml")
    tests = _load_yaml(workflows / "tests.yml")
    broken = copy.deepcopy(validate)
    for step in _steps(broken):
        if step.get("uses") == "hacs/action@main":
            step["with"] = {"category": "plugin"}
    assert any("category: integration" in p for p in check_validate_workflow(broken))
    assert any(
        "hassfest@master" in p for p in check_validate_workflow({"on": {}, "jobs": {}})
    )
    broken = copy.deepcopy(tests)
    for step in _steps(broken):
        if "run" in step:
            step["run"] = "echo nothing"
        if str(step.get("uses", "")).startswith("actions/setup-python@"):
            step["with"] = {"python-version": "3.12"}
    problems = check_tests_workflow(broken)
    for expected in ("mosquitto", "scripts/test", "3.14"):
        assert any(expected in p for p in problems), (expected, problems)
    assert check_workflow_shape("x.yml", {"jobs": {"a": {"steps": []}}}) == [
        "x.yml: no 'on' triggers",
        "x.yml: job a has no runs-on",
    ]
    bad_step = {"on": "push", "jobs": {"a": {"runs-on": "x", "steps": [{"name": "n"}]}}}
    assert check_workflow_shape("x.yml", bad_step) == [
        "x.yml: job a has a step without one uses/run"
    ]


def test_release_rules_fail() -> None:
    good = "## [Unreleased]\n\n## [0.1.0] - 2026-01-01\n"
    assert check_release("0.1.0", "0.1.0", good) == []
    assert any("!=" in p for p in check_release("0.2.0", "0.1.0", good))
    assert any("[0.2.0]" in p for p in check_release("0.2.0", "0.2.0", good))
    assert (
        check_release("0.1.0", "0.1.0", "## [Unreleased]\n## [0.1.0] - Unreleased\n")
        == []
    )
    assert any(
        "Unreleased" in p
        for p in check_release("0.1.0", "0.1.0", "## [0.1.0] - 2026-01-01\n")
    )
