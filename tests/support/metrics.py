"""Reading a service's `GET /metrics` the way Prometheus does."""

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(url: str) -> list[Sample]:
    """Every sample a service exposes; `url` is the service's base URL."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    response.raise_for_status()
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (what PromQL's sum() gives)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())
