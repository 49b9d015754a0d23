"""The console's page budget: no page over 200 ms of server time with 1,000 servers.

    uv run python -m tools.console_bench            # or: make bench-console

Starts the catalog, one smtp delivery worker (for the connection tests), the scheduler, the events
service and the console (`BENCH_WAVES`: no router, which declares a quorum queue per server: RabbitMQ
3.10 then took minutes to delete the run's virtual host, and once wedged on it), creates 1,000 servers through the catalog's API
(in parallel: a mix of every server type the catalog accepts with generated settings, some tested
and enabled against a local SMTP sink, some then paused or disabled, a fifth owned by a tenant),
then asks every page many times as the operator and as the tenant, and reads the console's own
`Server-Timing: app;dur=...` from each answer (its server time, the services' APIs included).

Prints one JSON line: per page and role p50/p95/max in ms, the slowest p95, and the console's
peak resident memory (VmHWM) over the run.
"""

import argparse
import json
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from tools.stack.api import SendpoolApi
from tools.stack.campaigns import new_tenant
from tools.stack.run import Waves, configure_logging, new_run_name, running_stack
from tools.stack.sinks import CountingSmtpSinks

log = logging.getLogger("sendpool.tools")

BUDGET_MS = 200.0
SERVER_TIMING_APP = re.compile(r"(?:^|,)\s*app;dur=([0-9.]+)")


# ---- the pool


def example_value(name: str, schema: dict[str, Any], definitions: dict[str, Any], sink_port: int) -> Any:
    """A value the schema accepts, good enough for the catalog to store (never to send)."""
    if "$ref" in schema:
        return example_value(name, definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions, sink_port)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [option for option in schema[combined] if option.get("type") != "null"]
            return example_value(name, options[0], definitions, sink_port)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return sink_port if "port" in name else max(schema.get("minimum", 1), 1)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        required = schema.get("required", [])
        return {
            key: example_value(key, value, definitions, sink_port)
            for key, value in schema.get("properties", {}).items()
            if key in required
        }
    text_format = schema.get("format", "")
    if "email" in text_format or "email" in name or name.endswith("_address"):
        return "bench@example.com"
    if "uri" in text_format or name.endswith("url"):
        return "https://api.example.com"
    if name == "region":
        return "eu-west-1"
    if name == "domain" or name.endswith("_domain"):
        return "mail.example.com"
    if "host" in name:
        return "127.0.0.1"
    length = max(int(schema.get("minLength", 0)), 16)
    return "x" * length


def settings_for(server_type: dict[str, Any], sink_port: int) -> dict[str, Any]:
    if server_type["name"] == "smtp":
        return {"host": "127.0.0.1", "port": sink_port, "encryption": "none"}
    schema = server_type["settings_schema"]
    found: dict[str, Any] = example_value("settings", schema, schema.get("$defs", {}), sink_port)
    return found


def create_pool(
    operator: SendpoolApi,
    tenant: SendpoolApi,
    catalog_url: str,
    servers: int,
    sink_port: int,
    workers: int,
    enable: int,
) -> dict[str, Any]:
    """`servers` servers: every accepted type in turn (smtp for half), a fifth of them the tenant's."""
    server_types = operator.call("GET", f"{catalog_url}/server-types")
    accepted: list[dict[str, Any]] = []
    for server_type in server_types:  # one try per type: keep those whose generated settings pass
        body = {"name": f"probe-{server_type['name']}", "type": server_type["name"]}
        try:
            created = operator.call(
                "POST", f"{catalog_url}/servers", body | {"settings": settings_for(server_type, sink_port)}
            )
        except Exception as refused:  # noqa: BLE001 - a type the generator cannot fill is left out
            log.info("type %s left out: %s", server_type["name"], str(refused)[:200])
            continue
        accepted.append(server_type | {"probe_id": created["id"]})
    smtp = next(t for t in accepted if t["name"] == "smtp")
    tenant_types = [t for t in accepted if not t["operator_only"]]

    def create(index: int) -> tuple[str, str, str]:
        own = index % 5 == 4
        types = tenant_types if own else accepted
        server_type = smtp if index % 2 == 0 else types[index % len(types)]
        api = tenant if own else operator
        body = {
            "name": f"{'tenant' if own else 'pool'}-{server_type['name']}-{index:04d}",
            "type": server_type["name"],
            "settings": settings_for(server_type, sink_port),
            "limits": {"per_hour": 100 + index},
        }
        created = api.call("POST", f"{catalog_url}/servers", body)
        return created["id"], server_type["name"], "tenant" if own else "operator"

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        made = list(pool.map(create, range(servers - len(accepted))))
    created_s = time.monotonic() - started

    # States: some smtp servers tested and enabled, a few of those paused, some others disabled.
    smtp_ids = [(server_id, owner) for server_id, name, owner in made if name == "smtp"]

    def enable_one(item: tuple[str, str]) -> str:
        server_id, owner = item
        api = tenant if owner == "tenant" else operator
        test = api.call("POST", f"{catalog_url}/servers/{server_id}/test")
        if not test.get("ok"):
            return "test failed"
        api.call("POST", f"{catalog_url}/servers/{server_id}/enable")
        return "active"

    def then(action: str, body: Any = None) -> Callable[[tuple[str, str]], str]:
        def act(item: tuple[str, str]) -> str:
            server_id, owner = item
            api = tenant if owner == "tenant" else operator
            api.call("POST", f"{catalog_url}/servers/{server_id}/{action}", body)
            return action

        return act

    # A connection test waits for the delivery worker: a few, one at a time, stopping at a failure.
    enabled: list[tuple[str, str]] = []
    for item in smtp_ids[:enable]:
        if enable_one(item) != "active":
            break
        enabled.append(item)
    with ThreadPoolExecutor(workers) as pool:
        paused = list(pool.map(then("pause", {"reason": "benchmark"}), enabled[: len(enabled) // 2]))
        others = [(server_id, owner) for server_id, name, owner in made if name != "smtp"]
        disabled = list(pool.map(then("disable"), others[:50]))
    return {
        "servers": len(made) + len(accepted),
        "types": len(accepted),
        "tenant_servers": sum(1 for _, _, owner in made if owner == "tenant"),
        "active": len(enabled) - len(paused),
        "paused": len(paused),
        "disabled": len(disabled),
        "create_s": round(created_s, 1),
        "sample_pool_server": next(server_id for server_id, _, owner in made if owner == "operator"),
        "sample_tenant_server": next(server_id for server_id, _, owner in made if owner == "tenant"),
    }


# ---- the pages


@contextmanager
def signed_in(console_url: str, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_url, timeout=60, follow_redirects=False) as client:
        response = client.post("/sign-in", data={"token": token, "next": "/"})
        if response.status_code != 303 or "sendpool_console" not in client.cookies:
            raise SystemExit(f"the console refused the sign-in: {response.status_code} {response.text[:300]}")
        yield client


def server_time_ms(response: httpx.Response) -> float:
    found = SERVER_TIMING_APP.search(response.headers.get("server-timing", ""))
    if not found:
        raise SystemExit(f"{response.request.url} has no Server-Timing app;dur=...")
    return float(found.group(1))


def measure(client: httpx.Client, path: str, repeat: int) -> dict[str, Any] | None:
    """p50/p95/max of the console's server time for `path`; None if the console has no such page."""
    first = client.get(path)
    if first.status_code == 404:
        return None
    if first.status_code != 200:
        raise SystemExit(f"{path}: {first.status_code} {first.text[:300]}")
    times = []
    for _ in range(repeat):
        response = client.get(path)
        response.raise_for_status()
        times.append(server_time_ms(response))
    times.sort()
    return {
        "p50": round(statistics.median(times), 1),
        "p95": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1),
        "max": round(times[-1], 1),
        "n": len(times),
    }


def pages(pool: dict[str, Any], page_size: int, role: str) -> dict[str, str]:
    server = pool["sample_tenant_server"] if role == "tenant" else pool["sample_pool_server"]
    found = {
        "pool": "/",
        "pool_search": "/?q=smtp-00",
        "pool_filtered": "/?state=inactive&type=smtp",
        "pool_page_10": f"/?offset={9 * page_size}",
        "add_server": "/servers/new",
        "add_server_smtp": "/servers/new/smtp",
        "server_detail": f"/servers/{server}",
    }
    # Each role's own page: the operator's tenants and plans, a tenant's campaigns.
    found.update({"tenants": "/tenants"} if role == "operator" else {"campaigns": "/campaigns"})
    return found


BENCH_WAVES: Waves = (("catalog",), ("delivery", "scheduler", "events"), ("console",))
"""What the pages read (the dry run's router is left out: see above)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50, help="requests per page and role")
    parser.add_argument(
        "--enable", type=int, default=10, help="smtp servers tested and enabled (half then paused)"
    )
    parser.add_argument("--workers", type=int, default=16, help="parallel API calls while creating servers")
    args = parser.parse_args(argv)
    configure_logging(logging.StreamHandler(sys.stderr))
    page_size = 50
    with (
        CountingSmtpSinks(1) as sinks,
        running_stack(new_run_name("console-bench"), log_level="WARNING", waves=BENCH_WAVES) as stack,
    ):
        operator = stack.operator_api()
        plan = operator.create_plan("bench plan")
        tenant = new_tenant(operator, "bench tenant", plan_id=plan.id)
        log.info("creating %d servers", args.servers)
        pool = create_pool(
            operator, tenant, stack.catalog_url, args.servers, sinks.ports[0], args.workers, args.enable
        )
        log.info("pool: %s", pool)
        results: dict[str, dict[str, Any]] = {}
        for role, token in (("operator", operator.token), ("tenant", tenant.token)):
            with signed_in(stack.console_url, token) as client:
                for name, path in pages(pool, page_size, role).items():
                    measured = measure(client, path, args.repeat)
                    if measured is not None:
                        results[f"{role} {name}"] = measured
                        log.info("%s %s: %s", role, name, measured)
        worst = max(results.items(), key=lambda item: item[1]["p95"])
        report = {
            "console_bench": time.strftime("%Y-%m-%d"),
            "servers": pool["servers"],
            "pool": {key: value for key, value in pool.items() if not key.startswith("sample_")},
            "repeat": args.repeat,
            "server_time_ms": results,
            "slowest_p95": {"page": worst[0], "ms": worst[1]["p95"]},
            "within_budget": all(result["max"] <= BUDGET_MS for result in results.values()),
            "peak_rss_mb": {"console": stack.peak_rss_mb()["console"]},
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
