"""Local stand-ins for the vendors' HTTP APIs that check every request against the vendor's spec.

Each fake listens over https on a free local port (`base_url`, to put in a server's settings; its
certificate is the test CA's, `tests.support.tls`) and:

1. checks the request against the vendor's published specification (`tests.support.vendor_specs`,
   `tests.support.sparkpost_blueprint`); a request the spec would reject is answered 400 with
   the problems and recorded in `violations`, which the fixtures turn into a failed test;
2. checks the credentials, and answers a wrong key the way the vendor does;
3. answers with the next scripted `Reply` if a test queued one (`script`), else as the vendor
   does when all is well.

SES is moto's server behind the same kind of check: moto verifies the SigV4 signature against
IAM credentials the fake creates, and records what was sent (`sent_messages`).
"""

import base64
import io
import itertools
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.wrappers import Request, Response

from tests.support.sparkpost_blueprint import transmission_problems
from tests.support.tls import ca_file, client_context
from tests.support.vendor_specs import OpenApiCheck, ses_problems
from tests.support.wsgi import CountingWsgiServer


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    """A dict or list is sent as JSON, a string as text, None as an empty body."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    """How long the fake waits before answering, to play a vendor that does not answer in time."""

    def response(self) -> Response:
        if self.body is None:
            return Response(status=self.status, headers=self.headers)
        if isinstance(self.body, str):
            return Response(self.body, status=self.status, headers=self.headers, content_type="text/plain")
        return Response(
            json.dumps(self.body), status=self.status, headers=self.headers, content_type="application/json"
        )


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    """Form fields and uploaded files (as text), for form and multipart requests."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def _environ_with_body(environ: dict, body: bytes) -> dict:
    """The request's environ over a fresh copy of its body: each reader consumes its own."""
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _request_from(environ: dict, body: bytes) -> Request:
    return Request(_environ_with_body(environ, body))


def _form_of(request: Request) -> dict[str, str]:
    fields = {name: value for name, value in request.form.items()}
    files = {name: upload.read().decode("utf-8", errors="replace") for name, upload in request.files.items()}
    return {**fields, **files}


class VendorFake:
    vendor: ClassVar[str]
    spec: ClassVar[OpenApiCheck | None] = None
    """The vendor's OpenAPI document, for the vendors that publish one."""

    def __init__(self, api_key: str = "test-api-key") -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self._scripted: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = CountingWsgiServer(self._wsgi)

    @property
    def base_url(self) -> str:
        return self._server.url

    @property
    def connections(self) -> int:
        """TCP connections accepted since the last `reset`."""
        return self._server.connections

    def server_settings(self, **changes: Any) -> dict[str, Any]:
        """Settings of a server of this vendor's API type that sends through this fake."""
        return {"api_key": self.api_key, "base_url": self.base_url, **changes}

    def script(self, *replies: Reply) -> None:
        """Answer the next requests (that pass the spec and the credentials check) with these."""
        with self._lock:
            self._scripted.extend(replies)

    def sends(self) -> list[Recorded]:
        return [request for request in self.requests if self.is_send(request)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()
            self._scripted.clear()
        self._server.forget_connections()

    def __enter__(self) -> "VendorFake":
        if self.spec is not None:
            self.spec.load()  # seconds for Mailgun's: not on the clock of the first test's request
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _wsgi(self, environ: dict, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        request = _request_from(environ, body)
        problems = self.problems(request)
        recorded = Recorded(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            form=_form_of(_request_from(environ, body)),
        )
        with self._lock:
            self.requests.append(recorded)
            self.violations += [f"{request.method} {request.path}: {problem}" for problem in problems]
            scripted = self._scripted.popleft() if self._scripted and not problems else None
        if problems:
            reply = Reply(400, {"fake": f"the {self.vendor} spec rejects this request", "problems": problems})
        elif not self.authorized(request):
            reply = self.refusal()
        elif scripted is not None:
            reply = scripted
            time.sleep(reply.delay_seconds)
        else:
            return self.respond(environ, recorded, start_response)
        return reply.response()(environ, start_response)

    def respond(self, environ: dict, recorded: Recorded, start_response):
        """The answer when all is well."""
        return self.answer(recorded).response()(environ, start_response)

    def problems(self, request: Request) -> list[str]:
        if self.spec is None:
            raise NotImplementedError
        return self.spec.problems(request)

    def authorized(self, request: Request) -> bool:
        raise NotImplementedError

    def refusal(self) -> Reply:
        raise NotImplementedError

    def answer(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def is_send(self, request: Recorded) -> bool:
        raise NotImplementedError

    def next_id(self) -> int:
        return next(self._ids)


class SendGridFake(VendorFake):
    vendor = "SendGrid"
    spec = OpenApiCheck("sendgrid_tsg_mail_v3.yaml", "https://api.sendgrid.com")

    def authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def refusal(self) -> Reply:
        message = "The provided authorization grant is invalid, expired, or revoked"
        return Reply(401, {"errors": [{"message": message, "field": None, "help": None}]})

    def answer(self, request: Recorded) -> Reply:
        if request.path == "/v3/mail/batch":
            return Reply(201, {"batch_id": f"batch-{self.next_id()}"})
        return Reply(202, headers={"X-Message-Id": f"sg-{self.next_id()}"})

    def is_send(self, request: Recorded) -> bool:
        return request.path == "/v3/mail/send"


class MailgunFake(VendorFake):
    vendor = "Mailgun"
    spec = OpenApiCheck("mailgun_openapi.yaml", "https://api.mailgun.net")

    def __init__(self, api_key: str = "test-api-key", *, domain: str = "mg.shop.example") -> None:
        super().__init__(api_key)
        self.domain = domain
        self.domain_state = "active"

    def server_settings(self, **changes: Any) -> dict[str, Any]:
        return super().server_settings(**{"domain": self.domain, **changes})

    def authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"api:{self.api_key}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def refusal(self) -> Reply:
        return Reply(401, "Forbidden")

    def answer(self, request: Recorded) -> Reply:
        domain = request.path.split("/")[3] if request.path.startswith("/v4/") else request.path.split("/")[2]
        if domain != self.domain:
            return Reply(404, {"message": "Domain not found"})
        if request.method == "GET":
            return Reply(200, {"domain": {"name": self.domain, "state": self.domain_state, "type": "custom"}})
        return Reply(
            200, {"id": f"<20260301.{self.next_id()}@{self.domain}>", "message": "Queued. Thank you."}
        )

    def is_send(self, request: Recorded) -> bool:
        return request.path.endswith("/messages.mime")


class ElasticEmailFake(VendorFake):
    """The v4 spec documents no error bodies; a refused key is answered as Elastic Email does."""

    vendor = "Elastic Email"
    spec = OpenApiCheck("elasticemail_v4_openapi.yaml", "https://api.elasticemail.com")

    def authorized(self, request: Request) -> bool:
        return request.headers.get("X-ElasticEmail-ApiKey") == self.api_key

    def refusal(self) -> Reply:
        return Reply(401, {"Error": "Access denied: the API key is not valid"})

    def answer(self, request: Recorded) -> Reply:
        if request.method == "GET":
            return Reply(200, [{"Domain": "shop.example", "Spf": True, "Dkim": True}])
        number = self.next_id()
        return Reply(200, {"TransactionID": f"tx-{number}", "MessageID": f"ee-{number}"})

    def is_send(self, request: Recorded) -> bool:
        return request.path == "/v4/emails/transactional"


class SparkPostFake(VendorFake):
    """Transmissions are checked against the blueprint (see `sparkpost_blueprint`). The Account
    API the probe uses is not among the spec files: only its credentials are checked."""

    vendor = "SparkPost"

    def __init__(self, api_key: str = "test-api-key") -> None:
        super().__init__(api_key)
        self.rejected_recipients: set[str] = set()
        """Recipients on the account's suppression list: SparkPost answers 200 and sends nothing."""

    def problems(self, request: Request) -> list[str]:
        if (request.method, request.path) == ("GET", "/api/v1/account"):
            return []
        if (request.method, request.path) != ("POST", "/api/v1/transmissions"):
            return [f"{request.method} {request.path} is not a request of the transmissions blueprint"]
        if request.mimetype != "application/json":
            return [f"Content-Type must be application/json, not {request.mimetype!r}"]
        try:
            body = json.loads(request.get_data())
        except ValueError as exc:
            return [f"the body is not JSON: {exc}"]
        return transmission_problems(body)

    def authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization") == self.api_key

    def refusal(self) -> Reply:
        return Reply(401, {"errors": [{"message": "Unauthorized."}]})

    def answer(self, request: Recorded) -> Reply:
        if request.method == "GET":
            return Reply(200, {"results": {"company_name": "Shop", "status": "active"}})
        recipients = [recipient["address"]["email"] for recipient in request.json["recipients"]]
        rejected = sum(recipient in self.rejected_recipients for recipient in recipients)
        results = {
            "total_rejected_recipients": rejected,
            "total_accepted_recipients": len(recipients) - rejected,
            "id": str(1166878748495052 + self.next_id()),
        }
        return Reply(200, {"results": results})

    def is_send(self, request: Recorded) -> bool:
        return request.path == "/api/v1/transmissions"


class SesFake(VendorFake):
    """moto's SES, with IAM authentication on: requests must be SigV4-signed with the access key
    this fake creates. moto does not implement SES v2 `GetAccount`; the fake answers it itself,
    after checking the signature as AWS does, as an account with production access (or with
    sending disabled: `sending_enabled = False`)."""

    vendor = "SES"
    VERIFIED_DOMAIN = "shop.example"

    def __init__(self, region: str = "eu-west-1") -> None:
        super().__init__()
        self.region = region
        self.sending_enabled = True
        self.access_key_id = ""
        self.secret_access_key = ""
        self._set_up = False
        self._moto = DomainDispatcherApplication(create_backend_app)

    def server_settings(self, **changes: Any) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "region": self.region,
            "base_url": self.base_url,
            **changes,
        }

    def sent_messages(self) -> list[Any]:
        """What moto's SES recorded as sent (source, destinations, raw_data)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][self.region].sent_messages)

    def __enter__(self) -> "SesFake":
        super().__enter__()
        clients = {
            "endpoint_url": self.base_url,
            "verify": ca_file(),
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        iam = boto3.client("iam", region_name="us-east-1", **clients)
        user = f"sendpool-{uuid.uuid4().hex[:8]}"  # moto's IAM is shared by the whole test process
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName="send",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.access_key_id, self.secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        boto3.client("sesv2", region_name=self.region, **clients).create_email_identity(
            EmailIdentity=self.VERIFIED_DOMAIN
        )
        # From now on moto checks every request's signature and IAM permissions.
        httpx.post(
            f"{self.base_url}/moto-api/reset-auth", content=b"0", verify=client_context()
        ).raise_for_status()
        self._set_up = True
        return self

    def __exit__(self, *exc: object) -> None:
        httpx.post(f"{self.base_url}/moto-api/reset-auth", content=b"inf", verify=client_context())
        super().__exit__(*exc)

    def _wsgi(self, environ: dict, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api/") or not self._set_up:
            return self._moto(environ, start_response)  # the fake's own set-up, not the adapter's
        return super()._wsgi(environ, start_response)

    def problems(self, request: Request) -> list[str]:
        if (request.method, request.path) == ("GET", "/v2/email/account"):
            return []
        if (request.method, request.path) != ("POST", "/v2/email/outbound-emails"):
            return [f"{request.method} {request.path} is not an operation the adapter should call"]
        try:
            body = json.loads(request.get_data())
        except ValueError as exc:
            return [f"the body is not JSON: {exc}"]
        return ses_problems("SendEmail", body) + _raw_message_problems(body)

    def authorized(self, request: Request) -> bool:
        return True  # moto checks the signature and the IAM policy

    def respond(self, environ: dict, recorded: Recorded, start_response):
        if (recorded.method, recorded.path) == ("GET", "/v2/email/account"):
            return self._account(recorded).response()(environ, start_response)
        return self._moto(_environ_with_body(environ, recorded.body), start_response)

    def _account(self, request: Recorded) -> Reply:
        refused = self._signature_refused(request)
        if refused is not None:
            error_type, message = refused
            return Reply(403, {"message": message}, {"x-amzn-ErrorType": error_type})
        return Reply(
            200,
            {
                "SendingEnabled": self.sending_enabled,
                "ProductionAccessEnabled": True,
                "EnforcementStatus": "HEALTHY",
                "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0},
            },
        )

    def _signature_refused(self, request: Recorded) -> tuple[str, str] | None:
        """AWS's error for a request not signed with this fake's key (SigV4, by botocore's signer)."""
        found = _SIGV4.fullmatch(request.headers.get("Authorization", ""))
        if found is None:
            return "IncompleteSignatureException", "Authorization header is not AWS Signature Version 4"
        key_id, region, service, signed_headers, signature = found.groups()
        if key_id != self.access_key_id:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        headers = {name.lower(): value for name, value in request.headers.items()}
        signed = AWSRequest(
            method=request.method,
            url=f"http://{headers['host']}{request.path}",
            data=request.body,
            headers={name: headers.get(name, "") for name in signed_headers.split(";")},
        )
        signed.context["timestamp"] = headers.get("x-amz-date", "")
        signer = SigV4Auth(Credentials(self.access_key_id, self.secret_access_key), service, region)
        if (
            signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
            != signature
        ):
            return (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        return None

    def is_send(self, request: Recorded) -> bool:
        return request.path == "/v2/email/outbound-emails"


_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]+)"
)


def _raw_message_problems(body: dict[str, Any]) -> list[str]:
    """SES's documented rules for `Content.Raw.Data`: base64 over the HTTP API, a header block and
    a body separated by one blank line, no line longer than 1,000 characters (RFC 5321)."""
    data = body.get("Content", {}).get("Raw", {}).get("Data")
    if data is None:
        return ["Content.Raw.Data is missing: the adapter sends raw MIME"]
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return ["Content.Raw.Data is not base64"]
    problems = []
    if b"\r\n\r\n" not in raw:
        problems.append("Content.Raw.Data has no blank line between header and body")
    if any(len(line) > 1000 for line in raw.split(b"\r\n")):
        problems.append("Content.Raw.Data has a line longer than 1,000 characters")
    return problems


class GoogleTokenFake:
    """Google's OAuth 2.0 token endpoint for the refresh-token grant, and the tokens it issued."""

    def __init__(self, *, client_id: str = "client-1", client_secret: str = "client-secret") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token = "refresh-1"
        self.expires_in = 3600
        self.grants = 0
        self._valid: set[str] = set()
        self._lock = threading.Lock()
        self._server = CountingWsgiServer(self._wsgi)

    @property
    def token_url(self) -> str:
        return f"{self._server.url}/token"

    def is_valid(self, access_token: str) -> bool:
        with self._lock:
            return access_token in self._valid

    def revoke_all(self) -> None:
        with self._lock:
            self._valid.clear()

    def __enter__(self) -> "GoogleTokenFake":
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _wsgi(self, environ: dict, start_response):
        request = Request(environ)
        form = {name: values[0] for name, values in parse_qs(request.get_data(as_text=True)).items()}
        if (request.method, request.path) != ("POST", "/token") or form.get("grant_type") != "refresh_token":
            reply = Reply(400, {"error": "unsupported_grant_type"})
        elif (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            reply = Reply(
                401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
            )
        elif form.get("refresh_token") != self.refresh_token:
            reply = Reply(
                400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            )
        else:
            with self._lock:
                self.grants += 1
                token = f"ya29.token-{self.grants}"
                self._valid.add(token)
            reply = Reply(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})
        return reply.response()(environ, start_response)
