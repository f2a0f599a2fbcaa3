"""The benchmark's report: the machine, a table row per method, where dbt's time went.

The section goes between START_MARKER and END_MARKER of a Markdown file (BENCHMARKS.md).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import duckdb
import psutil

from .measure import Measurement

START_MARKER = "<!-- benchmark:start -->"
END_MARKER = "<!-- benchmark:end -->"
METHOD_LABELS = {
    "dbt_spark": "dbt_spark (dbt build --target spark: a local session, the sql engine)",
    "dbt": "dbt (first build: fresh target/, full parse)",
    "dbt_rebuild": "dbt_rebuild (same command again: dbt's partial parse, as a scheduled rebuild)",
}
TABLE_HEADER = [
    "| input | method | status | wall s | CPU s | peak RSS MB | wall vs sparse "
    "| RSS vs sparse | parity |",
    "|---|---|---|---:|---:|---:|---:|---:|---|",
]


def describe_machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = psutil.virtual_memory()
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory.total / 2**30:.1f} GiB RAM "
        f"({memory.available / 2**30:.1f} GiB available at start), "
        f"load average at start {load[0]:.1f}, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, {platform.system()} {platform.release()}"
    )


def format_row(label: str, m: Measurement, reference: Measurement | None) -> str:
    method = METHOD_LABELS.get(m.method, m.method)
    if not m.status.startswith("ok"):
        return f"| {label} | {method} | {m.status} | | | | | | |"
    ratio = rss_ratio = ""
    if reference is not None and reference.status.startswith("ok"):
        ratio = f"{m.wall / reference.wall:.2f}x"
        rss_ratio = f"{m.peak_rss / reference.peak_rss:.2f}x"
    return (
        f"| {label} | {method} | {m.status} | {m.wall:.1f} | {m.cpu:.1f} | "
        f"{m.peak_rss / 2**20:,.0f} | {ratio} | {rss_ratio} | {m.parity} |"
    )


def input_label(path: Path, lines: int, products: int) -> str:
    name = path.name if path.name.startswith("sales_") else f"{path.parent.name}/{path.name}"
    return f"{name} ({lines:,} lines, {products:,} products)"


def dbt_note(
    label: str,
    method: str,
    measurement: Measurement,
    found: dict,
    first: dict | None,
    threads: int,
) -> str:
    """One line of "where the dbt build's time went" for one dbt run."""
    nodes = found["nodes"]
    kinds = ", ".join(f"{k}s {v:.1f} s" for k, v in sorted(nodes["by_kind"].items()))
    slowest = ", ".join(f"{name} {seconds} s" for seconds, name in nodes["slowest"])
    parse = "full parse" if found["full_parse"] else "partial parse"
    if found["parse_seconds"] is not None:
        parse += f" {found['parse_seconds']:.1f} s"
    saving = ""
    if method == "dbt_rebuild" and first is not None and "nodes" in first:
        # Side by side with the first build: the parse is what the rebuild saves.
        saving = f" (first build: {first['nodes']['outside_nodes']:.1f} s"
        if first["parse_seconds"] is not None:
            saving += f", of which parse {first['parse_seconds']:.1f} s"
        saving += ")"
    return (
        f"- {label}, {METHOD_LABELS[method]}: wall {measurement.wall:.1f} s; "
        f"DuckDB file {found['duckdb_bytes'] / 2**20:,.1f} MiB; "
        f"dbt outside nodes (start-up, {parse}, compile) "
        f"{nodes['outside_nodes']:.1f} s{saving}; "
        f"{nodes['count']} nodes, summed node time {kinds} ({threads} run at once); "
        f"slowest: {slowest}."
    )


def write_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else f"{START_MARKER}\n{END_MARKER}\n"
    if START_MARKER not in text or END_MARKER not in text:
        raise ValueError(f"{path} has no {START_MARKER} ... {END_MARKER} section to replace")
    head, rest = text.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    path.write_text(f"{head}{START_MARKER}\n{section}\n{END_MARKER}{tail}")


def section(
    started: str, machine: str, command: str, threads: int, rows: list[str], notes: list[str]
) -> str:
    """The results section: when and where it ran, the command, the table, the dbt notes."""
    return "\n".join(
        [
            f"Run {started} on {machine}.",
            "",
            f"Command: `{command}` (threads: {threads}).",
            "",
            *TABLE_HEADER,
            *rows,
            "",
            "Where the dbt build's time went (from target/run_results.json):",
            "",
            *notes,
        ]
    )
