"""API fuzzing with schemathesis against running services, collecting findings instead of stopping
at the first one, so that one run reports every 5xx, leaked secret and cross-tenant answer.

    schema = load_schema(catalog_url)
    findings = Findings()
    fuzz_service(schema, catalog_url, token, judge, findings, max_examples=20)
    assert not findings.fatal(), findings.report()

Requests are generated from the service's own OpenAPI document (served live at /openapi.json),
in both of schemathesis' modes: positive (valid by the schema) and negative (invalid on purpose).
Every body is passed through `confine_destinations` first: a connection test or a launch makes the
delivery worker connect where a server's settings point, and a fuzzer must never make this machine
connect anywhere but its own loopback sinks.
"""

import json
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

SAFE_HOST = "127.0.0.1"
# Nothing listens there (the port is below the egress allow list's range, so it is refused before
# any connection): an API server or token endpoint a fuzzed body points at is never reached.
SAFE_URL = "https://127.0.0.1:9/"
_DESTINATION_KEYS = {"host": SAFE_HOST, "base_url": SAFE_URL, "token_url": SAFE_URL}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def confine_destinations(value: Any) -> Any:
    """`value` with every host and URL a server's settings may name replaced by a loopback one."""
    if isinstance(value, dict):
        return {
            key: _DESTINATION_KEYS[key]
            if key in _DESTINATION_KEYS and isinstance(item, str)
            else confine_destinations(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [confine_destinations(item) for item in value]
    return value


def name_ids(value: Any, ids_by_name: Mapping[str, str], strings_by_name: Mapping[str, str] = {}) -> Any:
    """`value` with every UUID under a key of `ids_by_name` (`list_id`, `server_ids`, …) replaced by
    that key's id, and every string under a key of `strings_by_name` by that key's string: a body
    that names another tenant's objects."""
    if isinstance(value, dict):
        return {
            key: strings_by_name[key]
            if key in strings_by_name and isinstance(item, str)
            else _named(item, ids_by_name[key])
            if key in ids_by_name
            else name_ids(item, ids_by_name, strings_by_name)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [name_ids(item, ids_by_name, strings_by_name) for item in value]
    return value


def _named(value: Any, replacement: str) -> Any:
    if isinstance(value, str) and _UUID.fullmatch(value):
        return replacement
    if isinstance(value, list):
        return [_named(item, replacement) for item in value]
    if isinstance(value, dict):
        return {key: _named(item, replacement) for key, item in value.items()}
    return value


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    kind: str
    """`5xx`, `secret`, `cross-tenant`, `no answer` (fatal), or `conformance` (recorded only)."""
    caller: str
    operation: str
    status: int | None
    request: str
    detail: str

    def line(self) -> str:
        return f"[{self.kind}] as {self.caller}: {self.operation} → {self.status}: {self.detail}\n    request: {self.request}"


FATAL = frozenset({"5xx", "secret", "cross-tenant", "no answer"})


@dataclass
class Findings:
    items: list[Finding] = field(default_factory=list)
    requests: int = 0
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    """Per operation, how often each status answered: shows how deep the requests got."""

    def add(self, finding: Finding) -> None:
        # One of each kind per operation and status is enough to act on; the rest is noise.
        if not any(
            (f.kind, f.caller, f.operation, f.status)
            == (finding.kind, finding.caller, finding.operation, finding.status)
            for f in self.items
        ):
            self.items.append(finding)

    def fatal(self) -> list[Finding]:
        return [f for f in self.items if f.kind in FATAL]

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.items if f.kind == kind]

    def report(self) -> str:
        lines = [f"{self.requests} requests; {len(self.fatal())} findings"]
        lines += [f.line() for f in self.items]
        lines.append("statuses per operation:")
        lines += [
            f"  {operation}: " + ", ".join(f"{status}×{count}" for status, count in sorted(counts.items()))
            for operation, counts in sorted(self.statuses.items())
        ]
        return "\n".join(lines)


def describe_request(case: Case) -> str:
    text = f"{case.method} {case.formatted_path}"
    if case.query:
        text += f" query={json.dumps(case.query, default=str)[:200]}"
    if case.body is not None and not isinstance(case.body, NotSet):
        text += f" body={json.dumps(case.body, default=str)[:400]}"
    return text


# --------------------------------------------------------------------------- the run


Judge = Callable[[Case, requests.Response], Iterable[tuple[str, str]]]
"""Given a request and its answer, the findings it makes: (kind, detail) pairs."""


def load_schema(base_url: str) -> Any:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    return schema


def operations_in_order(schemas: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(base URL, operation) for every operation of every schema, those that delete or revoke last:
    an object deleted early would leave every later request about it a 404, and a revoked token
    every later request a 401."""

    def position(item: tuple[str, Any]) -> int:
        operation = item[1]
        revokes = "token" in operation.path and (
            operation.method.upper() == "DELETE" or "revoke" in operation.path
        )
        return 2 if revokes else 1 if operation.method.upper() == "DELETE" else 0

    operations = [(url, result.ok()) for url, schema in schemas for result in schema.get_all_operations()]
    return sorted(operations, key=position)


def operation_label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def path_parameter_names(operation: Any) -> list[str]:
    return [parameter.name for parameter in operation.path_parameters]


def query_parameter_names(operation: Any) -> list[str]:
    return [parameter.name for parameter in operation.query]


def _strategy(operation: Any, *, modes: Iterable[GenerationMode], **fixed: Any) -> Any:
    strategies = []
    for mode in modes:
        try:
            strategies.append(operation.as_strategy(generation_mode=mode, **fixed))
        except Exception:  # an operation with nothing to make invalid has no negative mode
            continue
    return st.one_of(strategies)


def fuzz_operation(
    operation: Any,
    base_url: str,
    *,
    caller: str,
    token: str,
    judge: Judge,
    findings: Findings,
    max_examples: int,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    rewrite_body: Callable[[Any], Any] = lambda body: body,
    session: requests.Session,
    label: str | None = None,
) -> None:
    """`max_examples` generated requests to one operation as `caller`, each judged by `judge` and by
    the 5xx, schema conformance and no-answer checks. `path_parameters`/`query` fix those values."""
    fixed: dict[str, Any] = {}
    if path_parameters:
        fixed["path_parameters"] = dict(path_parameters)
    if query:
        fixed["query"] = dict(query)
    strategy = _strategy(operation, modes=modes, **fixed)
    label = label or operation_label(operation)

    def record(kind: str, case: Case, status: int | None, detail: str) -> None:
        findings.add(Finding(kind, caller, label, status, describe_request(case), detail[:600]))

    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def run(case: Case) -> None:
        if case.body is not None and not isinstance(case.body, NotSet):
            case.body = rewrite_body(confine_destinations(case.body))
        findings.requests += 1
        try:
            response = case.call(
                base_url=base_url,
                session=session,
                headers={"Authorization": f"Bearer {token}"} if token else {},
                timeout=60,
            )
        except requests.RequestException as error:
            record("no answer", case, None, repr(error))
            return
        findings.statuses[label][response.status_code] += 1
        if response.status_code >= 500:
            record("5xx", case, response.status_code, response.text)
        for kind, detail in judge(case, response):
            record(kind, case, response.status_code, detail)
        try:
            case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])
        except FailureGroup as failures:
            record("conformance", case, response.status_code, "; ".join(f.title for f in failures.exceptions))

    run()


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between the fuzzer and the services
    return session


def random_tag() -> str:
    return uuid.uuid4().hex[:10]
