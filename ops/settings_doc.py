"""The configuration reference, generated from the settings classes so the README cannot drift."""

from typing import Any

from pydantic.fields import FieldInfo

from ops.registry import CONSOLE, SERVICES
from shared.settings import (
    ApiAuthSettings,
    ProcessSettings,
    ServiceSettings,
    UnsubscribeSettings,
    VerpSettings,
    env_name,
)

__all__ = ["SHARED_BY_SOME", "configuration_table", "env_name", "with_configuration_table"]

SHARED_BY_SOME: tuple[type[Any], ...] = (ApiAuthSettings, VerpSettings, UnsubscribeSettings)
"""Mixins of knobs a few services must agree on: listed once, with the services that read them."""


def _row(settings_class: type[Any], name: str, field: FieldInfo, who: str) -> str:
    default = "(secret)" if field.repr is False else field.get_default(call_default_factory=False)
    if field.repr is not False and field.is_required():
        default = None  # required, with no default: the description says what to set
    if field.default_factory is not None and field.repr is not False:
        default = "(generated)"
    default_text = "" if default is None else f"`{default}`"
    description = (field.description or "").replace("|", "\\|")
    return f"| `{env_name(settings_class, name, field)}` | {who} | {default_text} | {description} |"


def configuration_table() -> str:
    """A Markdown table: variable, service, default, description."""
    rows = ["| variable | service | default | what it sets |", "|---|---|---|---|"]
    listed = set(ServiceSettings.model_fields)
    # The web console reads the process-wide knobs (logging, development mode, body cap), not the
    # broker's and database's.
    rows += [
        _row(
            ServiceSettings,
            n,
            f,
            f"every service, {CONSOLE.name}" if n in ProcessSettings.model_fields else "every service",
        )
        for n, f in ServiceSettings.model_fields.items()
    ]
    for mixin in SHARED_BY_SOME:
        readers = ", ".join(entry.name for entry in SERVICES if issubclass(entry.settings, mixin))
        rows += [_row(mixin, n, f, readers) for n, f in mixin.model_fields.items()]
        listed |= set(mixin.model_fields)
    for entry in (*SERVICES, CONSOLE):
        settings_class = entry.settings
        rows += [
            _row(settings_class, n, f, entry.name)
            for n, f in settings_class.model_fields.items()
            if n not in listed
        ]
    return "\n".join(rows)


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def with_configuration_table(readme: str) -> str:
    """The README text with its configuration block replaced by the current table."""
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{configuration_table()}\n{END}{tail}"
