"""The pieces of `make bench` that can be tried without the services: the JSON line, the CPU
reader (on live processes), the py-spy summary (on a live Python process), the Python sender
(against Postfix's smtp-sink) and the router stage's reading of the router's metrics."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.bench import DeliveryConnections, Measurements, Throughput, delivery_connections
from tools.cpu_time import (
    MACHINE,
    OTHER,
    POSTGRESQL,
    RABBITMQ,
    CpuMeter,
    CpuReading,
    ProcessTicks,
    all_processes,
    parse_stat,
    roots_named,
)
from tools.profiles import (
    ProfileSummary,
    PySpyRecorders,
    parse_collapsed,
    py_spy_path,
    summarize,
    summary_markdown,
)
from tools.python_sender import message_bytes, send
from tools.stack.processes import REPO
from tools.stack.sinks import SMTP_SINK, PostfixSmtpSinks
from tools.stack.waiting import eventually
from tools.stages import routed_in_metrics

BUSY_LOOP = "import time\nwhile time.process_time() < {cpu_seconds}:\n    sum(range(1000))\n"
"""A Python program that uses `cpu_seconds` of CPU, however busy the machine is."""


# --------------------------------------------------------------------------- the JSON line


def test_delivery_connections_come_from_the_worker_settings_defaults():
    connections = delivery_connections(3)
    assert connections.servers == 3
    assert connections.total == 3 * connections.per_server
    assert "SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS" in connections.source


def test_the_json_line_puts_every_stage_side_by_side():
    measurements = Measurements(2000, DeliveryConnections(4, 3, "defaults"), 12)
    measurements.throughput |= {
        "baseline": Throughput(200_000, 10.0),
        "python_sender": Throughput(50_000, 10.0),
        "pipeline": Throughput(2_000, 4.0),
        "router": Throughput(2_000, 1.0),
    }
    measurements.pipeline_cpu_seconds = CpuReading({"router": 3.0, RABBITMQ: None})
    record = json.loads(measurements.as_json_line())

    assert record["messages"] == 2_000 and record["seconds"] == 4.0 and record["body_bytes"] == 2000
    assert record["pipeline_msgs_per_s"] == 500.0
    assert (record["baseline_msgs_per_s"], record["baseline_messages"], record["baseline_seconds"]) == (
        20_000.0,
        200_000,
        10.0,
    )
    assert record["python_sender_msgs_per_s"] == 5_000.0
    assert record["ratio"] == 0.025 and record["python_ratio"] == 0.1
    assert record["connections"] == {"per_server": 4, "servers": 3, "source": "defaults", "total": 12}
    assert record["cpu_seconds_per_1000"] == {"router": 1.5, RABBITMQ: None}
    assert "pipeline_messages" not in record and "profiled" not in record


# --------------------------------------------------------------------------- CPU time


def test_stat_fields_are_counted_from_the_end_of_the_name():
    # comm may hold spaces and parentheses; utime, stime, cutime and cstime are fields 14 to 17.
    stat = "4242 (odd (name) x) S 17 4242 4242 0 -1 4194304 100 0 0 0 30 12 5 3 20 0 1 0 99 1000 50"
    assert parse_stat(stat) == ProcessTicks(4242, 17, "odd (name) x", 30 + 12 + 5 + 3)


def test_a_tree_is_found_by_its_top_process():
    processes = {
        1: ProcessTicks(1, 0, "init", 0),
        10: ProcessTicks(10, 1, "postgres", 5),
        11: ProcessTicks(11, 10, "postgres", 7),
        20: ProcessTicks(20, 1, "beam.smp", 9),
    }
    assert roots_named("postgres", processes) == [10]
    assert roots_named("beam.smp", processes) == [20]


def test_a_reading_minus_an_earlier_one_is_what_was_used_in_between():
    assert CpuReading({"a": 5.0, "b": None, "c": 2.0}) - CpuReading({"a": 1.5, "b": 1.0, "c": None}) == {
        "a": 3.5,
        "b": None,
        "c": None,
    }


def test_the_cpu_of_a_wrapper_includes_the_child_doing_the_work():
    # A shell that runs a busy Python child, then sleeps: the work is the child's, and counts for
    # the shell's tree while the child runs and, once the shell has reaped it, still does.
    busy = f"{sys.executable} -c '{BUSY_LOOP.format(cpu_seconds=0.5)}'"
    wrapper = subprocess.Popen(["/bin/sh", "-c", f"{busy}; sleep 5"])
    try:
        meter = CpuMeter({"wrapper": wrapper.pid}, infrastructure=False)
        assert eventually(lambda: _python_child(wrapper.pid), timeout_seconds=10, interval_seconds=0.01)
        time.sleep(0.2)
        while_child_runs = meter.read()["wrapper"]
        eventually(lambda: not _python_child(wrapper.pid), timeout_seconds=20, interval_seconds=0.05)
        once_child_exited = meter.read()["wrapper"]
    finally:
        wrapper.kill()
        wrapper.wait()
    assert while_child_runs is not None and while_child_runs > 0
    assert once_child_exited is not None and once_child_exited >= 0.45  # ticks of 10 ms, rounded down


def _python_child(pid: int) -> bool:
    return any(p.ppid == pid and p.name.startswith("python") for p in all_processes().values())


def test_the_meter_reads_this_process_and_the_machine():
    meter = CpuMeter({"me": os.getpid()})
    before = meter.read()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        sum(range(1000))
    used = meter.read() - before
    assert used["me"] is not None and 0.25 <= used["me"] <= 1.0
    assert used[MACHINE] is not None and used[MACHINE] >= 0.25
    assert set(used) == {"me", RABBITMQ, POSTGRESQL, MACHINE, OTHER}
    assert (
        used[OTHER] is not None
        and used[OTHER]
        == pytest.approx(
            used[MACHINE]
            - sum(seconds or 0.0 for group, seconds in used.items() if group not in (MACHINE, OTHER)),
            abs=1e-6,  # both sides are differences of sums of floats; near zero a relative tolerance is meaningless
        )
    )


# --------------------------------------------------------------------------- profiles


def test_collapsed_stacks_are_summarized_by_own_and_cumulative_time():
    raw = [
        'process 7:"python -m faststream run";<module> (faststream/__main__.py:1);'
        "route (services/router/app/routing.py:102);validate (pydantic/main.py:600) 30\n",
        "<module> (faststream/__main__.py:1);route (services/router/app/routing.py:102) 10\n",
        "<module> (faststream/__main__.py:1);select (selectors.py:451) 5\n",
        "not a stack line\n",
    ]
    stacks = list(parse_collapsed(raw))
    assert [count for _, count in stacks] == [30, 10, 5]
    assert stacks[0][0][0].function == "<module>"  # the process frame is not a function

    summary = summarize_lines(raw)
    assert summary.samples == 45
    assert summary.own.most_common(1) == [("validate (pydantic/main.py:600)", 30)]
    assert summary.own_by_package["pydantic"] == 30
    assert summary.own_by_package["services.router.app.routing"] == 10
    assert summary.project_cumulative == {"route (services/router/app/routing.py:102)": 40}

    markdown = summary_markdown({"router": summary}, {"delivery": "cannot attach"}, stage_seconds=2.0)
    assert (
        "## router: 45 samples" in markdown
        and "| 66.7 | 30 | `validate (pydantic/main.py:600)` |" in markdown
    )
    assert "## delivery: no profile" in markdown and "cannot attach" in markdown


def summarize_lines(lines: list[str]) -> ProfileSummary:
    summary = ProfileSummary()
    for frames, count in parse_collapsed(lines):
        summary.add(frames, count)
    return summary


def test_py_spy_samples_a_live_python_process(tmp_path: Path):
    try:
        py_spy_path()
    except FileNotFoundError:
        pytest.skip("py-spy is not installed")
    script = tmp_path / "busy.py"
    script.write_text(
        "def spin():\n"
        + "".join(f"    {line}\n" for line in BUSY_LOOP.format(cpu_seconds=30).splitlines())
        + "spin()\n"
    )
    busy = subprocess.Popen([sys.executable, str(script)])
    try:
        with PySpyRecorders(tmp_path / "profiles", {"busy": busy.pid, "gone": 2**22 + 1}) as recorders:
            time.sleep(1.5)
    finally:
        busy.kill()
        busy.wait()
    assert "gone" in recorders.failures  # a pid that is no process: py-spy says so, the rest goes on
    if "busy" in recorders.failures:
        pytest.fail(f"py-spy could not sample (ptrace rights?): {recorders.failures['busy']}")
    summary = summarize(recorders.raw_files["busy"])
    assert summary.samples > 50
    assert any("spin" in name for name, _ in summary.own.most_common(3)), summary.own


# --------------------------------------------------------------------------- the Python sender

needs_smtp_sink = pytest.mark.skipif(not SMTP_SINK.exists(), reason="Postfix's smtp-sink is not installed")


def test_the_message_has_the_size_of_the_campaign_body():
    assert 2_000 < len(message_bytes(2_000)) < 3_500


@needs_smtp_sink
async def test_the_python_sender_sends_over_each_connection_to_smtp_sink(tmp_path: Path):
    with PostfixSmtpSinks(2, tmp_path) as sinks:
        result = await send(
            sinks.ports, connections_per_server=3, messages=300, min_seconds=0.5, body_bytes=2_000
        )
        await asyncio.sleep(0.3)  # smtp-sink writes its counter as each session ends
        assert result["connections"] == 6
        assert result["messages"] >= 300 and result["seconds"] >= 0.5
        assert sum(sinks.counts()) == result["messages"]
        assert all(count > 0 for count in sinks.counts())


@needs_smtp_sink
def test_the_python_sender_prints_one_json_line(tmp_path: Path):
    with PostfixSmtpSinks(1, tmp_path) as sinks:
        command = [sys.executable, "-m", "tools.python_sender", "--ports", str(sinks.ports[0])]
        done = subprocess.run(
            [*command, "--connections-per-server", "2", "--messages", "20", "--min-seconds", "0"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    result = json.loads(done.stdout)
    assert result["messages"] >= 20 and result["connections"] == 2


# --------------------------------------------------------------------------- the router stage


def test_routed_messages_are_summed_over_servers_from_the_router_metrics():
    metrics = (
        "# HELP sendpool_router_routed_total Messages routed, by the server chosen.\n"
        "# TYPE sendpool_router_routed_total counter\n"
        'sendpool_router_routed_total{server_id="a"} 250.0\n'
        'sendpool_router_routed_total{server_id="b"} 1000.0\n'
        'sendpool_router_routed_created{server_id="a"} 1.7e9\n'
        'sendpool_router_decisions_total{outcome="routed"} 1250.0\n'
    )
    assert routed_in_metrics(metrics) == 1250
    assert routed_in_metrics("# no sample yet\n") == 0
