"""Running one method in a subprocess: wall and CPU time, peak RSS of its process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from . import PROJECT_DIR


@dataclass
class Measurement:
    """One method's run on one input; status "ok..." or why it has no result."""

    method: str
    status: str = "ok"
    wall: float = float("nan")
    cpu: float = float("nan")
    peak_rss: int = 0
    result: Path | None = None
    parity: str = ""
    notes: list[str] = field(default_factory=list)


def high_water_mark(process: psutil.Process) -> int:
    """Peak RSS of one process so far (VmHWM), or its current RSS where unavailable.

    Not getrusage's ru_maxrss: Linux carries the parent's peak into a forked
    child across exec, so a child would inherit the benchmark's own memory.
    """
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


class PeakRss:
    """Polls the summed peak RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.peak = 0
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for process in [root, *root.children(recursive=True)]:
                    try:
                        total += high_water_mark(process)
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                return
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed_run(
    command: list[str], env: dict[str, str], log: Path, timeout: float
) -> tuple[int, float, float, int]:
    """Run command; returns (exit code, wall s, CPU s of the tree, peak RSS bytes)."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        monitor = PeakRss(process.pid)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, wall, usage.ru_utime + usage.ru_stime, monitor.stop()


def run_method(
    script: Path, method: str, sales: Path, workdir: Path, threads: int, timeout: float
) -> Measurement:
    """Time `script --child method` (scripts/benchmark.py) on sales; its result in workdir."""
    result = workdir / f"{method}.parquet"
    result.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(script),
        "--child",
        method,
        "--child-input",
        str(sales),
        "--child-output",
        str(result),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    code, wall, cpu, peak = timed_run(command, env, workdir / f"{method}.log", timeout)
    measurement = Measurement(method, wall=wall, cpu=cpu, peak_rss=peak)
    if code != 0:
        tail = (workdir / f"{method}.log").read_text(errors="replace").strip().splitlines()[-1:]
        measurement.status = f"failed (exit {code}: {' '.join(tail)[:120]})"
    else:
        measurement.result = result
    return measurement
