"""Config flow for GridFlex: platform, credentials, then the site."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import translation
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    LocationSelector,
    LocationSelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol
from yarl import URL

from .client import async_create_platform_client
from .const import (
    CONF_ADDRESS,
    CONF_ADOPT_RESOURCES,
    CONF_ADVANCED,
    CONF_BASE_URL,
    CONF_COUNTRY,
    CONF_DIRECTION,
    CONF_EDGE_CREDENTIALS,
    CONF_ENROLL,
    CONF_ENVIRONMENT,
    CONF_GRID_ENERGY_ENTITY,
    CONF_GRID_EXPORT_ENTITY,
    CONF_GRID_IDENTIFIER,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_INVERTED,
    CONF_INJECTION_GRID_IDENTIFIER,
    CONF_LATITUDE,
    CONF_LIMIT_KEEP_OFF,
    CONF_LOCATION,
    CONF_LONGITUDE,
    CONF_MQTT_BROKER,
    CONF_MQTT_CA_FILE,
    CONF_PLATFORM,
    CONF_PRICE_AREA,
    CONF_RESOURCE_TOPIC,
    CONF_SEND_BASELINES,
    CONF_SITE_ID,
    CONF_SITE_NAME,
    CONF_SITE_TOPIC,
    CONF_STREAM_ADVANCED,
    DOMAIN,
    LOGGER,
    SUBENTRY_RESOURCE,
)
from .grid_identifier import GridIdentifierError, example_for, normalize_grid_identifier
from .issues import can_take_back
from .load_flow import LoadSubentryFlow
from .loads import SUBENTRY_LOAD
from .platforms import CREDENTIAL_FIELDS, capabilities
from .platforms.base import Capabilities, ProgrammeMember
from .platforms.energy_coordination import PRICE_AREAS
from .platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from .platforms.models import (
    Environment,
    Location,
    PlatformKey,
    SiteRegistration,
    SupplyDirection,
)
from .price_feed import async_check_price_source, price_source_schema
from .resources import resource_label
from .subentry_flow import ResourceSubentryFlow

SECRET_FIELDS = frozenset({"client_secret", "password"})
NAME_SEPARATOR = " · "
"""Between the home's name and the platform's in the suggested site name."""
IDENTIFIER_TAIL = 4
"""Characters of the grid identifier a kept suggested site name ends with."""


def _credential_schema(
    platform: PlatformKey, defaults: Mapping[str, Any]
) -> vol.Schema:
    """Return the form asking for the platform's credentials."""
    schema: dict[vol.Marker, Any] = {}
    for field in CREDENTIAL_FIELDS[platform]:
        if field in SECRET_FIELDS:
            schema[vol.Required(field)] = TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            )
        else:
            kind = TextSelectorType.EMAIL if field == "email" else TextSelectorType.TEXT
            schema[vol.Required(field, default=defaults.get(field, vol.UNDEFINED))] = (
                TextSelector(TextSelectorConfig(type=kind, autocomplete="username"))
            )
    return vol.Schema(schema)


def _secret_field(platform: PlatformKey) -> str:
    """Return the credential field that a refusal points at."""
    return next(f for f in CREDENTIAL_FIELDS[platform] if f in SECRET_FIELDS)


def _valid_base_url(value: str) -> bool:
    """Return whether a custom base URL is an absolute http(s) URL."""
    try:
        url = URL(value)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _location_unset(address: str | None, location: Mapping[str, Any] | None) -> bool:
    """Return whether neither an address nor a real location was given.

    Home Assistant's home location is 0, 0 until it is set; no site is
    there, so that is no location.
    """
    if address:
        return False
    if not location:
        return True
    return not location.get(CONF_LATITUDE) and not location.get(CONF_LONGITUDE)


def _location_from(data: Mapping[str, Any]) -> Location:
    """Build the platform location from the form or entry data."""
    address = (data.get(CONF_ADDRESS) or "").strip() or None
    latitude = data.get(CONF_LATITUDE)
    longitude = data.get(CONF_LONGITUDE)
    return Location(
        address=address,
        latitude=None if latitude is None else Decimal(str(round(latitude, 6))),
        longitude=None if longitude is None else Decimal(str(round(longitude, 6))),
    )


class GridFlexConfigFlow(ConfigFlow, domain=DOMAIN):
    """Register the home as a site on a grid-flexibility platform."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing chosen."""
        self._data: dict[str, Any] = {}
        self._adopted: tuple[str, dict[str, Any]] | None = None
        """The adopted site's entry (title, data) while its resources are offered."""
        self._offered: list[SelectOptionDict] = []
        self._finishing: tuple[str, dict[str, Any]] | None = None
        """The entry (title, data) while enrollment in the programme is offered."""

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Resources and curtailable loads are added to the site as subentries."""
        return {
            SUBENTRY_RESOURCE: ResourceSubentryFlow,
            SUBENTRY_LOAD: LoadSubentryFlow,
        }

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """The site's meter: which sensors measure the grid connection."""
        return GridFlexOptionsFlow()

    @property
    def _platform(self) -> PlatformKey:
        return PlatformKey(self._data[CONF_PLATFORM])

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the platform and which of its environments to use."""
        errors: dict[str, str] = {}
        if user_input is not None:
            base_url = (
                user_input.get(CONF_ADVANCED, {}).get(CONF_BASE_URL) or ""
            ).strip()
            environment = Environment(user_input[CONF_ENVIRONMENT])
            if environment is Environment.CUSTOM and not base_url:
                errors["base"] = "base_url_required"
            elif base_url and not _valid_base_url(base_url):
                errors["base"] = "invalid_base_url"
            else:
                if base_url:
                    environment = Environment.CUSTOM
                self._data = {
                    CONF_PLATFORM: user_input[CONF_PLATFORM],
                    CONF_ENVIRONMENT: environment.value,
                    CONF_BASE_URL: base_url.rstrip("/") or None,
                }
                return await self.async_step_credentials()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_PLATFORM): SelectSelector(
                            SelectSelectorConfig(
                                options=[p.value for p in PlatformKey],
                                translation_key=CONF_PLATFORM,
                                mode=SelectSelectorMode.LIST,
                            )
                        ),
                        vol.Required(
                            CONF_ENVIRONMENT, default=Environment.PRODUCTION.value
                        ): SelectSelector(
                            SelectSelectorConfig(
                                options=[e.value for e in Environment],
                                translation_key=CONF_ENVIRONMENT,
                            )
                        ),
                        vol.Required(CONF_ADVANCED): section(
                            vol.Schema(
                                {
                                    vol.Optional(CONF_BASE_URL): TextSelector(
                                        TextSelectorConfig(type=TextSelectorType.URL)
                                    )
                                }
                            ),
                            {"collapsed": True},
                        ),
                    }
                ),
                user_input,
            ),
            errors=errors,
        )

    async def _async_test_credentials(
        self,
        data: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> bool:
        """Fetch a token with ``data``; fill ``errors`` when that fails."""
        client = async_create_platform_client(self.hass, data)
        platform = PlatformKey(data[CONF_PLATFORM])
        try:
            await client.authenticate()
        except GridFlexAuthError:
            errors[_secret_field(platform)] = "invalid_auth"
        except (GridFlexResponseError, GridFlexRequestRejectedError) as err:
            # It answered, so it is reachable: an unreadable body, or a 404 or
            # 400 (typically a URL that is not the platform's).
            errors["base"] = "unexpected_answer"
            placeholders["detail"] = str(err)
        except GridFlexConnectionError:
            errors["base"] = "cannot_connect"
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while checking credentials")
            errors["base"] = "unknown"
        return not errors

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the platform credentials and test them."""
        errors: dict[str, str] = {}
        placeholders = {"platform": self._platform.value, "detail": ""}
        if user_input is not None:
            data = {**self._data, **user_input}
            if await self._async_test_credentials(data, errors, placeholders):
                self._data = data
                return await self.async_step_site()
        return self.async_show_form(
            step_id="credentials",
            data_schema=_credential_schema(self._platform, user_input or {}),
            description_placeholders=placeholders,
            errors=errors,
        )

    async def async_step_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Describe the site, then register it or adopt the existing one."""
        platform = self._platform
        caps = capabilities(platform)
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"detail": ""}
        if user_input is not None:
            # The form's options are lowercase (translation keys must be); the
            # entry and the platforms use ISO 3166 codes in capitals.
            country = str(user_input[CONF_COUNTRY]).upper()
            direction = SupplyDirection(
                user_input.get(CONF_DIRECTION, SupplyDirection.BIDIRECTIONAL)
            )
            grid_identifier = injection = None
            try:
                grid_identifier = normalize_grid_identifier(
                    country, user_input[CONF_GRID_IDENTIFIER]
                )
            except GridIdentifierError as err:
                errors[CONF_GRID_IDENTIFIER] = err.reason
            if direction is SupplyDirection.OFFTAKE_INJECTION:
                try:
                    injection = normalize_grid_identifier(
                        country, user_input.get(CONF_INJECTION_GRID_IDENTIFIER) or ""
                    )
                except GridIdentifierError as err:
                    errors[CONF_INJECTION_GRID_IDENTIFIER] = err.reason
                else:
                    if injection == grid_identifier:
                        errors[CONF_INJECTION_GRID_IDENTIFIER] = "same_as_offtake"
            address = (user_input.get(CONF_ADDRESS) or "").strip() or None
            location = user_input.get(CONF_LOCATION) or {}
            if _location_unset(address, location):
                errors[CONF_LOCATION] = "location_unset"
            if not errors and grid_identifier:
                await self.async_set_unique_id(f"{platform.value}_{grid_identifier}")
                self._abort_if_unique_id_configured()
                site_data = {
                    CONF_SITE_NAME: self._site_name(
                        user_input[CONF_SITE_NAME], caps.display_name, grid_identifier
                    ),
                    CONF_COUNTRY: country,
                    CONF_GRID_IDENTIFIER: grid_identifier,
                    CONF_DIRECTION: direction.value,
                    CONF_INJECTION_GRID_IDENTIFIER: injection,
                    CONF_ADDRESS: address,
                    CONF_LATITUDE: location.get(CONF_LATITUDE),
                    CONF_LONGITUDE: location.get(CONF_LONGITUDE),
                }
                result = await self._async_register(site_data, errors, placeholders)
                if result is not None:
                    return result
        return self.async_show_form(
            step_id="site",
            data_schema=self.add_suggested_values_to_schema(
                self._site_schema(caps.countries, caps.supply_direction),
                user_input
                or {
                    CONF_SITE_NAME: self._default_site_name(caps.display_name),
                    CONF_LOCATION: {
                        CONF_LATITUDE: self.hass.config.latitude,
                        CONF_LONGITUDE: self.hass.config.longitude,
                    },
                },
            ),
            description_placeholders={
                **placeholders,
                "example": example_for(self._default_country(caps.countries)),
            },
            errors=errors,
        )

    def _default_site_name(self, platform_name: str) -> str:
        """Suggest a site name: the home's name and the platform's."""
        home = self.hass.config.location_name.strip()
        return NAME_SEPARATOR.join(part for part in (home, platform_name) if part)

    def _site_name(self, typed: str, platform_name: str, grid_identifier: str) -> str:
        """Return the site's name; a kept suggestion gets the identifier's tail.

        The suggestion names the home and the platform only, the same for two
        sites of one home: the grid identifier's last characters tell them
        apart ("Home · Powernaut …7096").
        """
        name = typed.strip()
        if name == self._default_site_name(platform_name):
            return f"{name} …{grid_identifier[-IDENTIFIER_TAIL:]}"
        return name

    def _default_country(self, countries: tuple[str, ...]) -> str:
        """Return Home Assistant's country when the platform serves it."""
        if self.hass.config.country in countries:
            return self.hass.config.country
        return countries[0]

    def _site_schema(
        self, countries: tuple[str, ...], supply_direction: bool
    ) -> vol.Schema:
        """Return the site form; supply direction only where the platform has it."""
        schema: dict[vol.Marker, Any] = {
            vol.Required(CONF_SITE_NAME): TextSelector(),
            vol.Required(
                CONF_COUNTRY, default=self._default_country(countries).lower()
            ): SelectSelector(
                SelectSelectorConfig(
                    options=[country.lower() for country in countries],
                    translation_key=CONF_COUNTRY,
                )
            ),
            vol.Required(CONF_GRID_IDENTIFIER): TextSelector(),
        }
        if supply_direction:
            schema[
                vol.Required(
                    CONF_DIRECTION, default=SupplyDirection.BIDIRECTIONAL.value
                )
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=[d.value for d in SupplyDirection],
                    translation_key=CONF_DIRECTION,
                )
            )
            schema[vol.Optional(CONF_INJECTION_GRID_IDENTIFIER)] = TextSelector()
        schema[vol.Optional(CONF_ADDRESS)] = TextSelector()
        schema[vol.Optional(CONF_LOCATION)] = LocationSelector(
            LocationSelectorConfig(radius=False)
        )
        return vol.Schema(schema)

    async def _async_register(
        self,
        site_data: dict[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult | None:
        """Register (or adopt) the site; create the entry when that works."""
        client = async_create_platform_client(self.hass, self._data)
        registration = SiteRegistration(
            name=site_data[CONF_SITE_NAME],
            country=site_data[CONF_COUNTRY],
            grid_identifier=site_data[CONF_GRID_IDENTIFIER],
            location=_location_from(site_data),
            direction=SupplyDirection(site_data[CONF_DIRECTION]),
            injection_grid_identifier=site_data[CONF_INJECTION_GRID_IDENTIFIER],
        )
        try:
            registered = await client.register_site(registration)
        except GridFlexAuthError:
            errors["base"] = "invalid_auth"
        except GridFlexResponseError as err:
            errors["base"] = "unexpected_answer"
            placeholders["detail"] = str(err)
        except GridFlexConnectionError:
            errors["base"] = "cannot_connect"
        except GridFlexRequestRejectedError as err:
            errors["base"] = "site_rejected"
            placeholders["detail"] = err.detail
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while registering the site")
            errors["base"] = "unknown"
        else:
            edge = registered.edge_credentials
            LOGGER.info(
                "Site %s on %s",
                "registered" if registered.created else "adopted",
                self._platform.value,
            )
            title = site_data[CONF_SITE_NAME]
            data = {
                **self._data,
                **site_data,
                CONF_SITE_ID: registered.site.site_id,
                CONF_EDGE_CREDENTIALS: (
                    {"name": edge.name, "key": edge.key, "secret": edge.secret}
                    if edge
                    else None
                ),
            }
            if not registered.created:
                self._offered = await self._async_adoptable(
                    client, registered.site.site_id
                )
                if self._offered:
                    self._adopted = (title, data)
                    return await self.async_step_adopt_resources()
            return await self._async_finish(title, data)
        return None

    async def _async_adoptable(
        self, client: Any, site_id: str
    ) -> list[SelectOptionDict]:
        """List the adopted site's resources GridFlex can stand for, by name and type.

        A failure to list them only skips the offer: at setup they raise
        their repairs (take back, keep or delete) like any unknown resource.
        """
        try:
            listed = await client.list_resources(site_id)
        except GridFlexError as err:
            LOGGER.debug("Could not list the adopted site's resources: %s", err)
            return []
        # The type names are in the selector translations (the flow does not
        # load them by itself).
        await translation.async_get_translations(
            self.hass, self.hass.config.language, "selector", {DOMAIN}
        )
        return [
            SelectOptionDict(value=r.resource_id, label=resource_label(self.hass, r))
            for r in listed
            if can_take_back(r)
        ]

    async def async_step_adopt_resources(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the adopted site's resources to take back into Home Assistant."""
        assert self._adopted is not None
        title, data = self._adopted
        if user_input is not None:
            return await self._async_finish(
                title,
                {**data, CONF_ADOPT_RESOURCES: user_input[CONF_ADOPT_RESOURCES]},
            )
        offered = [option["value"] for option in self._offered]
        return self.async_show_form(
            step_id="adopt_resources",
            data_schema=vol.Schema(
                {
                    vol.Optional(CONF_ADOPT_RESOURCES, default=offered): SelectSelector(
                        SelectSelectorConfig(
                            options=self._offered,
                            multiple=True,
                            mode=SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
            description_placeholders={"site": title, "count": str(len(offered))},
        )

    async def _async_finish(self, title: str, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry; first offer the platform's programme where it has one."""
        if not capabilities(self._platform).programme:
            return self.async_create_entry(title=title, data=data)
        self._finishing = (title, data)
        client = async_create_platform_client(self.hass, data)
        if not isinstance(client, ProgrammeMember):  # pragma: no cover - by capability
            return self.async_create_entry(title=title, data=data)
        site_id = data[CONF_SITE_ID]
        try:
            enrollment = await client.get_enrollment(site_id)
            eligibility = await client.get_eligibility(site_id)
        except GridFlexError as err:
            # Offer it anyway: the platform answers the enrollment itself.
            LOGGER.debug("Could not read the site's programme standing: %s", err)
            return await self.async_step_enroll()
        if enrollment.enrolled:
            # An adopted site whose user is enrolled already: nothing to offer.
            return self.async_create_entry(title=title, data=data)
        if not eligibility.eligible:
            return await self.async_step_enroll_not_eligible()
        return await self.async_step_enroll()

    async def async_step_enroll(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the homeowner choose to enroll in the programme (never by itself)."""
        assert self._finishing is not None
        title, data = self._finishing
        errors: dict[str, str] = {}
        placeholders = {"site": title}
        if user_input is not None:
            if not user_input.get(CONF_ENROLL):
                return self.async_create_entry(title=title, data=data)
            client = async_create_platform_client(self.hass, data)
            assert isinstance(client, ProgrammeMember)
            try:
                await client.enroll(data[CONF_SITE_ID])
            except GridFlexAuthError:
                errors["base"] = "invalid_auth"
            except GridFlexRequestRejectedError as err:
                errors["base"] = "enroll_rejected"
                placeholders["detail"] = err.detail
            except GridFlexConnectionError:
                errors["base"] = "cannot_connect"
            except GridFlexError as err:
                errors["base"] = "unexpected_answer"
                placeholders["detail"] = str(err)
            else:
                return self.async_create_entry(title=title, data=data)
        return self.async_show_form(
            step_id="enroll",
            data_schema=vol.Schema(
                {vol.Optional(CONF_ENROLL, default=False): BooleanSelector()}
            ),
            description_placeholders=placeholders,
            errors=errors,
        )

    async def async_step_enroll_not_eligible(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Say the site cannot enroll yet; create the entry without enrolling."""
        assert self._finishing is not None
        title, data = self._finishing
        if user_input is not None:
            return self.async_create_entry(title=title, data=data)
        return self.async_show_form(
            step_id="enroll_not_eligible",
            data_schema=vol.Schema({}),
            description_placeholders={"site": title},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start reauthentication when the platform refuses the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials of the same account."""
        entry = self._get_reauth_entry()
        platform = PlatformKey(entry.data[CONF_PLATFORM])
        errors: dict[str, str] = {}
        placeholders = {"platform": platform.value, "detail": ""}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if await self._async_test_credentials(data, errors, placeholders):
                result = await self._async_check_site(data, errors, placeholders)
                if result is None:
                    return self._async_update_entry(entry, user_input)
                if result != "error":
                    return self.async_abort(reason=result)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=_credential_schema(platform, user_input or entry.data),
            description_placeholders=placeholders,
            errors=errors,
        )

    def _async_update_entry(
        self, entry: ConfigEntry, updates: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Store the new data and make the entry use it.

        A running entry's update listener reloads it when its data changes;
        an entry that is not running (e.g. failed authentication) is reloaded
        here.
        """
        if entry.update_listeners:
            return self.async_update_and_abort(entry, data_updates=updates)
        return self.async_update_reload_and_abort(entry, data_updates=updates)

    async def _async_check_site(
        self,
        data: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> str | None:
        """Check the entry's site is reachable with ``data``.

        Returns ``None`` when it is, an abort reason when these credentials
        or this URL belong elsewhere, or ``"error"`` when ``errors`` was filled.
        """
        client = async_create_platform_client(self.hass, data)
        try:
            await client.get_site(data[CONF_SITE_ID])
        except GridFlexNotFoundError:
            return "wrong_account"
        except GridFlexAuthError:
            errors["base"] = "invalid_auth"
        except GridFlexRequestRejectedError as err:
            if err.status == 403:
                return "wrong_account"
            errors["base"] = "unexpected_answer"
            placeholders["detail"] = str(err)
        except GridFlexResponseError as err:
            errors["base"] = "unexpected_answer"
            placeholders["detail"] = str(err)
        except GridFlexConnectionError:
            errors["base"] = "cannot_connect"
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while reading the site")
            errors["base"] = "unknown"
        else:
            return None
        return "error"

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the site's address or the platform's URL; keep the site."""
        entry = self._get_reconfigure_entry()
        custom = entry.data[CONF_ENVIRONMENT] == Environment.CUSTOM
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {"detail": ""}
        if user_input is not None:
            location = user_input.get(CONF_LOCATION) or {}
            updates: dict[str, Any] = {
                CONF_ADDRESS: (user_input.get(CONF_ADDRESS) or "").strip() or None,
                CONF_LATITUDE: location.get(CONF_LATITUDE),
                CONF_LONGITUDE: location.get(CONF_LONGITUDE),
            }
            # A location at 0, 0 without an address is refused; a form without
            # a location (e.g. only the URL changes) is not checked here.
            if location and _location_unset(updates[CONF_ADDRESS], location):
                errors[CONF_LOCATION] = "location_unset"
            if custom:
                base_url = (user_input.get(CONF_BASE_URL) or "").strip().rstrip("/")
                if not _valid_base_url(base_url):
                    errors[CONF_BASE_URL] = "invalid_base_url"
                updates[CONF_BASE_URL] = base_url
            data = {**entry.data, **updates}
            if not errors:
                result = await self._async_check_site(data, errors, placeholders)
                if result == "wrong_account":
                    errors["base"] = "site_not_found"
                elif result is None and await self._async_update_location(
                    data, errors, placeholders
                ):
                    return self._async_update_entry(entry, updates)
        current = user_input or {
            CONF_ADDRESS: entry.data.get(CONF_ADDRESS),
            CONF_BASE_URL: entry.data.get(CONF_BASE_URL),
            CONF_LOCATION: (
                {
                    CONF_LATITUDE: entry.data[CONF_LATITUDE],
                    CONF_LONGITUDE: entry.data[CONF_LONGITUDE],
                }
                if entry.data.get(CONF_LATITUDE) is not None
                else None
            ),
        }
        schema: dict[vol.Marker, Any] = {}
        if custom:
            schema[vol.Required(CONF_BASE_URL)] = TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            )
        schema[vol.Optional(CONF_ADDRESS)] = TextSelector()
        schema[vol.Optional(CONF_LOCATION)] = LocationSelector(
            LocationSelectorConfig(radius=False)
        )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(schema), {k: v for k, v in current.items() if v}
            ),
            description_placeholders=placeholders,
            errors=errors,
        )

    async def _async_update_location(
        self,
        data: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> bool:
        """Tell the platform where the site is now."""
        client = async_create_platform_client(self.hass, data)
        try:
            await client.update_site_location(data[CONF_SITE_ID], _location_from(data))
        except GridFlexRequestRejectedError as err:
            errors["base"] = "site_rejected"
            placeholders["detail"] = err.detail
        except GridFlexAuthError:
            errors["base"] = "invalid_auth"
        except GridFlexResponseError as err:
            errors["base"] = "unexpected_answer"
            placeholders["detail"] = str(err)
        except GridFlexConnectionError:
            errors["base"] = "cannot_connect"
        except GridFlexError:
            LOGGER.exception("Unexpected error while updating the site")
            errors["base"] = "unknown"
        return not errors


def _valid_broker(value: str) -> bool:
    """Return whether a broker URL is mqtt:// or mqtts:// with a host."""
    try:
        url = URL(value)
    except ValueError:
        return False
    return url.scheme in ("mqtt", "mqtts") and bool(url.host)


def _price_area_schema(caps: Capabilities) -> dict[vol.Marker, Any]:
    """The site's bidding zone, where the platform's price curves are per zone."""
    if not caps.programme:
        return {}
    return {
        vol.Optional(CONF_PRICE_AREA): SelectSelector(
            SelectSelectorConfig(
                options=list(PRICE_AREAS), mode=SelectSelectorMode.DROPDOWN
            )
        )
    }


class GridFlexOptionsFlow(OptionsFlow):
    """Choose the sensors that measure the site's grid connection."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Map the grid power sensor(s); on Powernaut, the stream's settings."""
        caps = capabilities(PlatformKey(self.config_entry.data[CONF_PLATFORM]))
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get(CONF_GRID_EXPORT_ENTITY) and not user_input.get(
                CONF_GRID_POWER_ENTITY
            ):
                errors[CONF_GRID_POWER_ENTITY] = "import_required"
            stream = user_input.get(CONF_STREAM_ADVANCED, {})
            if (broker := stream.get(CONF_MQTT_BROKER)) and not _valid_broker(broker):
                errors[CONF_STREAM_ADVANCED] = "invalid_broker"
            for key, field in (
                (CONF_SITE_TOPIC, "{site_id}"),
                (CONF_RESOURCE_TOPIC, "{resource_id}"),
            ):
                if (topic := stream.get(key)) and field not in topic:
                    errors[CONF_STREAM_ADVANCED] = "invalid_topic"
            await async_check_price_source(
                self.hass, self.config_entry, user_input, errors
            )
            if not errors:
                return self.async_create_entry(data=user_input)
        power = EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class=SensorDeviceClass.POWER)
        )
        schema: dict[vol.Marker, Any] = {
            vol.Optional(CONF_GRID_POWER_ENTITY): power,
            vol.Optional(CONF_GRID_EXPORT_ENTITY): power,
            vol.Optional(CONF_GRID_POWER_INVERTED, default=False): BooleanSelector(),
        }
        if caps.lpc_events:
            schema[vol.Optional(CONF_GRID_ENERGY_ENTITY)] = EntitySelector(
                EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.ENERGY
                )
            )
        schema.update(price_source_schema(caps))
        schema.update(_price_area_schema(caps))
        # Limit control: a load switched off stays off until the limit ends
        # (fewer switchings, more energy curtailed); off by default.
        schema[vol.Optional(CONF_LIMIT_KEEP_OFF, default=False)] = BooleanSelector()
        if caps.baselines:
            # On by default: without baselines Powernaut's health check fails.
            schema[vol.Optional(CONF_SEND_BASELINES, default=True)] = BooleanSelector()
        if caps.streams_measurements:
            schema[vol.Required(CONF_STREAM_ADVANCED)] = section(
                vol.Schema(
                    {
                        vol.Optional(CONF_MQTT_BROKER): TextSelector(),
                        vol.Optional(CONF_MQTT_CA_FILE): TextSelector(),
                        vol.Optional(CONF_SITE_TOPIC): TextSelector(),
                        vol.Optional(CONF_RESOURCE_TOPIC): TextSelector(),
                    }
                ),
                {"collapsed": True},
            )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(schema), user_input or dict(self.config_entry.options)
            ),
            errors=errors,
        )
