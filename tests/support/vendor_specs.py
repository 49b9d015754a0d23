"""Checks of requests against the vendors' published specifications in `../shared/data/vendor-specs/`.

OpenAPI documents (SendGrid, Mailgun, Elastic Email) are checked with openapi-core; SES's AWS
service model with botocore's own parameter validator. Each check returns the problems it
found, in words, so a fake can answer 400 and the test can show what was wrong.
"""

import functools
import json
import os
from pathlib import Path
from typing import Any

from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.wrappers import Request

REPO = Path(__file__).resolve().parents[2]
VENDOR_SPECS = Path(os.environ.get("SENDPOOL_VENDOR_SPECS", REPO.parent / "shared" / "data" / "vendor-specs"))


def _binary_as_text(value: bytes, **parameters: str) -> str:
    return value.decode("utf-8", errors="surrogateescape")


@functools.cache
def _openapi(spec_file: str) -> OpenAPI:
    # OpenAPI 3.1 has no binary type: a `format: binary` string stays a JSON Schema string, but
    # openapi-core hands the uploaded file over as bytes, which `string` refuses. Reading
    # octet-stream parts as text lets a correct upload (Mailgun's `message`) pass.
    config = Config(extra_media_type_deserializers={"application/octet-stream": _binary_as_text})
    return OpenAPI.from_file_path(str(VENDOR_SPECS / spec_file), config=config)


class _AsIfSentTo(WerkzeugOpenAPIRequest):
    """The request as the vendor's own server would see it: the fake plays the spec's server URL."""

    def __init__(self, request: Request, server_url: str) -> None:
        super().__init__(request)
        self._server_url = server_url

    @property
    def host_url(self) -> str:
        return self._server_url


class OpenApiCheck:
    def __init__(self, spec_file: str, server_url: str) -> None:
        self._spec_file = spec_file
        self._server_url = server_url

    def load(self) -> None:
        _openapi(self._spec_file)

    def problems(self, request: Request) -> list[str]:
        try:
            result = _openapi(self._spec_file).unmarshal_request(_AsIfSentTo(request, self._server_url))
        except Exception as exc:  # no such path or operation, or a body that does not parse
            return [f"{type(exc).__name__}: {exc}"]
        return [message for error in result.errors for message in _messages(error)]


def _messages(error: Exception) -> list[str]:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return [
            f"{type(error).__name__}: {schema_error.message} at /{'/'.join(map(str, schema_error.absolute_path))}"
            for schema_error in schema_errors
        ]
    return [f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else "")]


@functools.cache
def _ses_model() -> ServiceModel:
    return ServiceModel(json.loads((VENDOR_SPECS / "amazon_sesv2_2019-09-27_service-2.json").read_text()))


def ses_problems(operation: str, params: dict[str, Any]) -> list[str]:
    """What the SES v2 model says is wrong with an operation's JSON body (names, types, required)."""
    input_shape = _ses_model().operation_model(operation).input_shape
    report = ParamValidator().validate(params, input_shape)
    return report.generate_report().splitlines() if report.has_errors() else []
