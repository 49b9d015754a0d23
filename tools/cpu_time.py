"""CPU time that processes have used, read from /proc, for the bench's `cpu_seconds_per_1000`.

A process's CPU time is user + system time from `/proc/<pid>/stat`, and that of its descendants:
the live ones are read too (a service started through a wrapper does its work in a child), and
those that have exited and been waited for are in their parent's `cutime`/`cstime`. Summing
utime + stime + cutime + cstime over a live tree therefore keeps every tick, whether a child is
still running or has been reaped in between two readings. That is what makes PostgreSQL's count
right: its backends come and go, and the postmaster reaps them.

    meter = CpuMeter({"router": 1234}, infrastructure=True)
    before = meter.read()
    ...  # the work
    used = meter.read() - before      # seconds per group; None where a group could not be read
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")

RABBITMQ = "rabbitmq"
"""The group of RabbitMQ's Erlang VM (`beam.smp`) and its helpers."""
POSTGRESQL = "postgresql"
"""The group of the postmaster and every backend and worker process it started."""
MACHINE = "machine"
"""Every process on the machine (`/proc/stat`), the others' too: tells how busy the cores were."""
OTHER = "other"
"""`machine` less every group read: the bench itself, its SMTP sinks and profilers, and whatever else
ran meanwhile (on a shared machine, other people's work: then the other figures are less sure)."""


@dataclass(frozen=True)
class ProcessTicks:
    pid: int
    ppid: int
    name: str
    """`comm`: the executable's name (a PostgreSQL backend's is `postgres` whatever its title says)."""
    ticks: int
    """utime + stime + cutime + cstime, in clock ticks."""


def read_process(pid: int) -> ProcessTicks | None:
    """One process's entry; None if it has gone (or cannot be read)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return parse_stat(stat)


def parse_stat(stat: str) -> ProcessTicks:
    """`/proc/<pid>/stat`: `pid (comm) state ppid … utime stime cutime cstime …` (fields 14 to 17).

    `comm` may hold spaces and parentheses, so the fields after it are counted from its last `)`."""
    pid, _, rest = stat.partition(" (")
    name, _, after = rest.rpartition(") ")
    fields = after.split()  # fields[0] is field 3 (state)
    utime, stime, cutime, cstime = (int(field) for field in fields[11:15])
    return ProcessTicks(int(pid), int(fields[1]), name, utime + stime + cutime + cstime)


def all_processes() -> dict[int, ProcessTicks]:
    """Every process this one can see, by pid."""
    processes = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := read_process(int(entry.name))) is not None:
            processes[process.pid] = process
    return processes


def tree_ticks(root: int, processes: Mapping[int, ProcessTicks]) -> int | None:
    """Ticks of `root` and of all its live descendants; None if `root` is not among `processes`."""
    if root not in processes:
        return None
    children: dict[int, list[int]] = {}
    for process in processes.values():
        children.setdefault(process.ppid, []).append(process.pid)
    total, pending, seen = 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += processes[pid].ticks
        pending.extend(children.get(pid, ()))
    return total


def roots_named(name: str, processes: Mapping[int, ProcessTicks]) -> list[int]:
    """Processes called `name` whose parent is not: the top of each such tree (the postmaster, beam.smp)."""
    return [
        process.pid
        for process in processes.values()
        if process.name == name and _name_of(processes.get(process.ppid)) != name
    ]


def _name_of(process: ProcessTicks | None) -> str | None:
    return None if process is None else process.name


def machine_ticks() -> int | None:
    """Busy ticks of every core (`/proc/stat`'s first line less idle and iowait)."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in first[1:9])
    return user + nice + system + irq + softirq + steal


class CpuReading(dict[str, float | None]):
    """CPU seconds used so far, per group; `later - earlier` is what was used in between."""

    def __sub__(self, earlier: Mapping[str, float | None]) -> "CpuReading":
        return CpuReading(
            {
                group: None if now is None or earlier.get(group) is None else now - (earlier[group] or 0.0)
                for group, now in self.items()
            }
        )


class CpuMeter:
    """Reads the CPU time of named process trees: the services (by the pid each was started with),
    and, with `infrastructure`, RabbitMQ's, PostgreSQL's, the whole machine's and the rest of it
    (`OTHER`)."""

    def __init__(self, pids: Mapping[str, int], *, infrastructure: bool = True) -> None:
        self._pids = dict(pids)
        self._infrastructure = infrastructure

    def read(self) -> CpuReading:
        processes = all_processes()
        reading = CpuReading(
            {group: _seconds(tree_ticks(pid, processes)) for group, pid in self._pids.items()}
        )
        if self._infrastructure:
            reading[RABBITMQ] = _seconds(
                _sum(tree_ticks(pid, processes) for pid in roots_named("beam.smp", processes))
            )
            reading[POSTGRESQL] = _seconds(
                _sum(tree_ticks(pid, processes) for pid in roots_named("postgres", processes))
            )
            reading[MACHINE] = machine = _seconds(machine_ticks())
            groups = [
                seconds for group, seconds in reading.items() if group != MACHINE and seconds is not None
            ]
            reading[OTHER] = None if machine is None else machine - sum(groups)
        return reading


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum of the values that were read; None if none was (the process is not there at all)."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _seconds(ticks: int | None) -> float | None:
    return None if ticks is None else ticks / CLOCK_TICKS_PER_SECOND
