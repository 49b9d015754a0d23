# sendpool — `make demo`, `make test`, `make bench`. Each installs what it needs first.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
# uv from PyPI runs as a Python module, so nothing has to be on PATH.
UV := python3 -m uv

.PHONY: install test test-fast demo bench bench-console chaos lint migrate docs screenshots

install:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

test: install /usr/sbin/smtp-sink /usr/bin/amqp-consume /usr/bin/promtool /usr/bin/chromium
	$(UV) run pytest

test-fast: install
	$(UV) run pytest tests/unit

lint: install
	$(UV) run ruff check shared services ops tests tools deploy
	$(UV) run ruff format --check shared services ops tests tools deploy
	$(UV) run mypy

migrate: install
	$(UV) run sendpool migrate

# ---- demo and benchmark (tools/) ----------------------------------------------------------------

# DEMO_ARGS=--stay keeps the services and the web console running afterwards, until Ctrl-C.
demo: install
	$(UV) run python -m tools.demo $(DEMO_ARGS)

# `make bench SCALE=1000000` for a million recipients (default 20000; long, and not run by CI);
# BENCH_ARGS adds options, e.g. BENCH_ARGS="--profile var/profile" (py-spy on every service).
SCALE ?= 20000
bench: install /usr/sbin/smtp-sink
	$(UV) run python -m tools.bench --messages $(SCALE) $(BENCH_ARGS)

# The console's page budget (200 ms of server time with 1,000 servers): one JSON line, per page
# p50/p95/max and the console's peak memory. BENCH_CONSOLE_ARGS adds options (--servers, --repeat).
bench-console: install /usr/sbin/smtp-sink
	$(UV) run python -m tools.console_bench $(BENCH_CONSOLE_ARGS)

# Restarts the local RabbitMQ and PostgreSQL mid-run: pass CHAOS_ARGS=--no-infra-faults on a shared machine.
chaos: install
	$(UV) run python -m tools.chaos $(CHAOS_ARGS)

# smtp-sink and smtp-source ship with Postfix. "No configuration" leaves no main.cf, so the
# package never starts a mail daemon on port 25; the preseed keeps apt from asking questions.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
/usr/sbin/smtp-sink:
	echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix

# amqp-consume and amqp-declare-queue (librabbitmq's command-line tools): the test that reads the
# public status stream with a consumer not written in Python.
/usr/bin/amqp-consume:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends amqp-tools

# promtool checks the Prometheus alerting rules and runs their unit tests, and parses the Grafana
# dashboard's queries (tests/unit/test_observability.py). Debian ships it in the prometheus package,
# whose server the test never needs: if the package started it (systemd), it is stopped and disabled.
/usr/bin/promtool:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
	-$(SUDO) systemctl disable --now prometheus >/dev/null 2>&1

docs: install
	$(UV) run sendpool settings --readme README.md
	$(UV) run sendpool openapi docs/openapi
	$(UV) run sendpool asyncapi docs/asyncapi

# The console's pictures in docs/console/: its browser tests, each keeping a screenshot of its page.
screenshots: install /usr/bin/chromium
	rm -f docs/console/*.png
	SENDPOOL_CONSOLE_SCREENSHOTS=docs/console $(UV) run pytest tests/e2e/console -q -p no:randomly

# The console's browser tests drive Debian's Chromium through Playwright (which cannot download a
# browser of its own here); DejaVu gives the screenshots a font.
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
