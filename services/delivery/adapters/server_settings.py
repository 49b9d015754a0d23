"""Reading a server's settings, as the catalog hands them over, into the model its adapter expects.

The catalog has already validated them strictly for the server's type; an adapter still checks
what it relies on, so a catalog older or newer than the worker fails with a clear reason.
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from services.delivery.app.ports import UnusableServer


class AdapterSettings(BaseModel):
    # Fields this worker does not know are ignored: the catalog may be newer than the worker.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


M = TypeVar("M", bound=BaseModel)


def parse_server_settings(model: type[M], settings: dict[str, Any], server_type: str) -> M:
    """`settings` (the values of the server's type) as `model`; raises `UnusableServer` naming each
    field that is wrong, never its value."""
    try:
        return model.model_validate(settings)
    except ValidationError as exc:
        raise UnusableServer(f"invalid {server_type} settings: {problems_of(exc)}") from None


def problems_of(error: ValidationError) -> str:
    """Each field a validation refused and why, without the values: settings hold credentials."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
