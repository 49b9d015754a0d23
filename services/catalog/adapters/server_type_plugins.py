"""Third-party server types, found through the entry-point group `sendpool.server_types`.

Each entry point must name a `ServerTypeSpec` (see services/catalog/domain/server_types.py). One
that does not, or that clashes with a type already known, stops the catalog at start-up with
the entry point's name: a type silently missing would leave its servers unusable.
"""

from importlib.metadata import entry_points

import structlog

from services.catalog.domain.server_types import ServerTypeSpec

ENTRY_POINT_GROUP = "sendpool.server_types"

log = structlog.get_logger("catalog.server_types")


class InvalidServerTypePlugin(RuntimeError):
    pass


def installed_server_types() -> list[ServerTypeSpec]:
    specs = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        where = f"entry point {entry_point.name!r} ({entry_point.value}) of group {ENTRY_POINT_GROUP}"
        try:
            spec = entry_point.load()
        except Exception as exc:
            raise InvalidServerTypePlugin(f"{where} cannot be loaded: {exc!r}") from exc
        if not isinstance(spec, ServerTypeSpec):
            raise InvalidServerTypePlugin(f"{where} is {spec!r}, not a ServerTypeSpec")
        log.info(
            "server type plugin loaded", type=spec.name, vendor=spec.vendor, entry_point=entry_point.value
        )
        specs.append(spec)
    return specs
