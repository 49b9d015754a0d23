"""The configuration reference, generated from the settings classes so the README cannot drift."""

import importlib

SETTINGS_CLASSES = {
    "every service": ("shared.settings", "ServiceSettings"),
    "catalog": ("services.catalog.settings", "CatalogSettings"),
    "scheduler": ("services.scheduler.settings", "SchedulerSettings"),
    "router": ("services.router.settings", "RouterSettings"),
    "delivery": ("services.delivery.settings", "DeliverySettings"),
    "bounces": ("services.bounces.settings", "BouncesSettings"),
}


def _env_name(cls, name: str, field) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if alias is not None and hasattr(alias, "choices"):
        return str(alias.choices[0]).upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def configuration_table() -> str:
    """A Markdown table: variable, service, default, description."""
    base_fields = set(importlib.import_module("shared.settings").ServiceSettings.model_fields)
    rows = ["| variable | service | default | what it sets |", "|---|---|---|---|"]
    for service, (module, name) in SETTINGS_CLASSES.items():
        cls = getattr(importlib.import_module(module), name)
        for field_name, field in cls.model_fields.items():
            if service != "every service" and field_name in base_fields:
                continue
            default = "(secret)" if field.repr is False else field.default
            default_text = "" if default is None else f"`{default}`"
            description = (field.description or "").replace("|", "\\|")
            rows.append(
                f"| `{_env_name(cls, field_name, field)}` | {service} | {default_text} | {description} |"
            )
    return "\n".join(rows)


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def with_configuration_table(readme: str) -> str:
    """The README text with its configuration block replaced by the current table."""
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{configuration_table()}\n{END}{tail}"
