"""Where the services spend their CPU: py-spy on each service while the bench's pipeline runs.

`PySpyRecorders` attaches `py-spy record --nonblocking --format raw --function` to each process
(the services keep running at full speed: py-spy reads their memory without pausing them, so a
sample may now and then be inconsistent) and stops it with SIGINT, which makes py-spy write its
file. A raw file holds collapsed stacks, one line per distinct stack, `frame;frame;…;leaf count`,
each frame `function (module/path.py:first line)`. Only stacks of threads that were running are
sampled (idle ones, waiting in epoll, are left out), so the counts stand for CPU time.

`summarize` aggregates a file into three top lists:
- own time per function: the leaf frame's count, where the CPU actually went;
- own time per package: the same, by third-party package (`pydantic`, `aio_pika`, …) or, for the
  project's code, by module;
- cumulative time of the project's functions (`services/`, `shared/`, `ops/`): every sample in
  which the function is on the stack, which tells which handler or use case leads to that cost.

py-spy needs the right to ptrace the services (root, or CAP_SYS_PTRACE, or a `ptrace_scope` of
0): one that cannot attach exits at once, and `failures` says why, from py-spy's own output.
"""

import logging
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tools.stack.processes import spawn_dying_with_parent

log = logging.getLogger("sendpool.bench")

PROJECT_PACKAGES = ("services", "shared", "ops", "tools")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy_path() -> Path:
    """py-spy as installed with the dev dependencies (next to this interpreter), or on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return beside
    found = shutil.which("py-spy")
    if found is None:
        raise FileNotFoundError(
            "py-spy is not installed: `make install` installs it with the dev dependencies"
        )
    return Path(found)


# --------------------------------------------------------------------------- recording


class PySpyRecorders:
    """One `py-spy record` per process while the block runs; `raw_files` and `failures` afterwards."""

    def __init__(self, out_dir: Path, pids: Mapping[str, int], *, rate: int = 100) -> None:
        self.out_dir = out_dir
        self._pids = dict(pids)
        self._rate = rate
        self._recorders: dict[str, subprocess.Popen[bytes]] = {}
        self.raw_files: dict[str, Path] = {}
        self.failures: dict[str, str] = {}
        """Label → why its profile is missing (py-spy's own words)."""

    def _log_path(self, label: str) -> Path:
        return self.out_dir / f"{label}.py-spy.log"

    def __enter__(self) -> Self:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            py_spy = py_spy_path()
        except FileNotFoundError as error:
            self.failures = {label: str(error) for label in self._pids}
            return self
        for label, pid in self._pids.items():
            with self._log_path(label).open("wb") as output:
                self._recorders[label] = spawn_dying_with_parent(
                    [
                        str(py_spy), "record", "--nonblocking", "--format", "raw", "--function",
                        "--subprocesses", "--rate", str(self._rate),
                        "--output", str(self.out_dir / f"{label}.raw"), "--pid", str(pid),
                    ],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
        self._wait_until_sampling()
        return self

    def _wait_until_sampling(self, timeout: float = 10.0) -> None:
        """Until each py-spy says it samples, or has exited (it could not attach: a failure)."""
        deadline = time.monotonic() + timeout
        waiting = dict(self._recorders)
        while waiting and time.monotonic() < deadline:
            for label, recorder in list(waiting.items()):
                if recorder.poll() is not None:
                    self._fail(label, f"py-spy exited with code {recorder.returncode} at start")
                    del waiting[label]
                elif b"Sampling process" in self._log_path(label).read_bytes():
                    del waiting[label]
            time.sleep(0.05)
        for label in waiting:
            log.warning("py-spy on %s has not said it samples after %gs; going on", label, timeout)

    def _fail(self, label: str, what: str) -> None:
        # py-spy's error, without the Rust backtrace it may print after it.
        output = self._log_path(label).read_text(errors="replace").partition("Stack backtrace:")[0].strip()
        self.failures[label] = f"{what}: {output[-2000:]}" if output else what
        self._recorders.pop(label, None)

    def __exit__(self, *exc_info: object) -> None:
        for recorder in self._recorders.values():
            if recorder.poll() is None:
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for label, recorder in list(self._recorders.items()):
            try:
                recorder.wait(60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
            raw = self.out_dir / f"{label}.raw"
            if raw.exists():
                self.raw_files[label] = raw
            else:
                self._fail(label, f"py-spy wrote no file (exit code {recorder.returncode})")


# --------------------------------------------------------------------------- summarizing


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: str = ""
    """With `--function`, the function's first line: tells apart two functions of one name in a file."""

    @property
    def package(self) -> str:
        """`pydantic` for pydantic's modules; the module itself for the project's (`services.router.app.routing`)."""
        module = self.file.removesuffix(".py").replace("/", ".")
        top = module.partition(".")[0]
        return module if top in PROJECT_PACKAGES else top or self.function

    @property
    def in_project(self) -> bool:
        return self.file.partition("/")[0] in PROJECT_PACKAGES

    def __str__(self) -> str:
        if not self.file:
            return self.function
        return f"{self.function} ({self.file}:{self.line})" if self.line else f"{self.function} ({self.file})"


def parse_frame(text: str) -> Frame:
    found = _FRAME.match(text)
    if found is None:
        return Frame(text, "")
    return Frame(found["function"], found["file"], found["line"] or "")


def parse_collapsed(lines: Iterable[str]) -> Iterable[tuple[list[Frame], int]]:
    """(stack from the outermost frame to the leaf, samples) for each line of a raw py-spy file.

    `--subprocesses` puts a `process <pid>:"<command>"` frame first: it is no function, and is left out."""
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [parse_frame(text) for text in stack.split(";") if not text.startswith("process ")]
        if frames:
            yield frames, int(count)


@dataclass
class ProfileSummary:
    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    own_by_package: Counter[str] = field(default_factory=Counter)
    project_cumulative: Counter[str] = field(default_factory=Counter)

    def add(self, frames: list[Frame], count: int) -> None:
        self.samples += count
        leaf = frames[-1]
        self.own[str(leaf)] += count
        self.own_by_package[leaf.package] += count
        for name in {str(frame) for frame in frames if frame.in_project}:  # once per stack, even if recursive
            self.project_cumulative[name] += count


def summarize(raw: Path) -> ProfileSummary:
    summary = ProfileSummary()
    with raw.open(errors="replace") as lines:
        for frames, count in parse_collapsed(lines):
            summary.add(frames, count)
    return summary


SUMMARY_NOTE = """\
Samples of the threads py-spy saw running, {rate} a second; py-spy's idea of running is rough (a
thread waiting in uvloop's native code may count), so take shares from here and CPU time from
`CPU s` (measured in /proc: user + system). Own time of `Runner.run (asyncio/runners.py)` is the
event loop's native work (uvloop: polling, socket reads and writes, callbacks), plus such waits."""


def summary_markdown(
    summaries: Mapping[str, ProfileSummary],
    failures: Mapping[str, str],
    *,
    top: int = 15,
    rate: int = 100,
    stage_seconds: float | None = None,
    cpu_seconds: Mapping[str, float | None] | None = None,
) -> str:
    """The top `top` entries of each service, as Markdown tables (the bench's DIR/summary.md);
    `cpu_seconds` is each one's CPU time over the same stage, if it was measured."""
    lines = ["# Profiles of the pipeline stage (py-spy, raw collapsed stacks)", ""]
    if stage_seconds is not None:
        lines += [f"Stage: {stage_seconds:.1f} s.", ""]
    lines += [SUMMARY_NOTE.format(rate=rate), ""]
    for label, why in failures.items():
        lines += [f"## {label}: no profile", "", "```", why, "```", ""]
    for label, summary in summaries.items():
        cpu = (cpu_seconds or {}).get(label)
        measured = "" if cpu is None else f", {cpu:.1f} CPU s"
        lines += [f"## {label}: {summary.samples} samples{measured}", ""]
        for title, counter in (
            ("own time, by function", summary.own),
            ("own time, by package (the project's code by module)", summary.own_by_package),
            ("cumulative time of the project's functions", summary.project_cumulative),
        ):
            lines += [f"### {title}", "", "| % | samples | where |", "|---:|---:|---|"]
            for name, count in counter.most_common(top):
                share = 100 * count / summary.samples if summary.samples else 0.0
                lines.append(f"| {share:.1f} | {count} | `{name}` |")
            lines.append("")
    return "\n".join(lines)
