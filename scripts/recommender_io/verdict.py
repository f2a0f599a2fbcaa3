"""The verdict of a build, read from the database it built: one rule for every reader.

dbt records it in the DuckDB file itself (macros/build_verdict.sql): `build_runs`
(one row per command), `build_run_inputs`, `build_run_results` (every node of the
project per command) and the view `build_verdict` (every node's latest result).
The export reads it from the database it exports, never from target/, so another
build run with the same target/ folder cannot change what it decides; the manifest
carries it on (`build`), and the loader judges an export by that record.

A database is fit to hand off when its latest dbt command finished and no node's
latest result is error, fail or skipped (a warn-severity test does not fail it). A
partial run (--select) updates only the nodes it ran. Which tests exist is the
project's business: nothing here knows a test by name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from .duckdb_files import table_exists

OVERRIDE_FLAG = "--allow-failed-validation"
MAX_NAMED = 8


@dataclass(frozen=True)
class FailedNode:
    """A node whose latest recorded result fails the build."""

    name: str
    unique_id: str
    resource_type: str
    status: str
    message: str | None
    invocation_id: str | None

    def describe(self) -> str:
        return f"{self.name} ({self.resource_type} {self.status})"


@dataclass(frozen=True)
class Verdict:
    """What a database says about the build that made it."""

    invocation_id: str
    started_at: str
    command: str
    finished: bool
    dbt_version: str | None = None
    project_version: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    cli_vars: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    invocation_ids: list[str] = field(default_factory=list)
    nodes_checked: int = 0
    failed: list[FailedNode] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.finished and not self.failed

    def describe(self) -> str:
        """One line: which build, and what it says."""
        build = f"dbt {self.command} {self.invocation_id} (started {self.started_at})"
        if not self.finished:
            return f"{build} did not finish"
        if not self.failed:
            return f"{build}: {self.nodes_checked} nodes, none failed"
        return f"{build}: {len(self.failed)} of {self.nodes_checked} nodes failed: {self.named()}"

    def named(self) -> str:
        listed = ", ".join(node.describe() for node in self.failed[:MAX_NAMED])
        more = len(self.failed) - MAX_NAMED
        return listed + (f" and {more} more" if more > 0 else "")

    def to_manifest(self) -> dict[str, Any]:
        record = asdict(self)
        record["passed"] = self.passed
        return record

    @classmethod
    def from_manifest(cls, record: Any) -> Verdict | None:
        """The verdict an export's manifest carries (`build`), or None when it has none."""
        if not isinstance(record, dict) or not isinstance(record.get("invocation_id"), str):
            return None
        failed = [FailedNode(**node) for node in record.get("failed") or []]
        fields = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        return cls(**{**fields, "failed": failed})


def read_verdict(con: duckdb.DuckDBPyConnection) -> Verdict | None:
    """The verdict recorded in an open DuckDB file, or None when it records none."""
    if not table_exists(con, "build_runs"):
        return None
    latest = con.execute(
        "select invocation_id, cast(run_started_at as string), command, dbt_version,"
        " project_version, vars, cli_vars from build_runs"
        " order by run_started_at desc limit 1"
    ).fetchall()
    if not latest:
        return None
    invocation_id, started_at, command, dbt_version, project_version, vars_text, cli_text = latest[
        0
    ]
    inputs = []
    if table_exists(con, "build_run_inputs"):
        cursor = con.execute(
            "select file_path, size_bytes, modified_at, sha256 from build_run_inputs"
            " where invocation_id = ? order by file_path",
            [invocation_id],
        )
        names = [column[0] for column in cursor.description]
        inputs = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    common = {
        "invocation_id": invocation_id,
        "started_at": started_at,
        "command": command,
        "dbt_version": dbt_version,
        "project_version": project_version,
        "vars": json.loads(vars_text or "{}"),
        "cli_vars": json.loads(cli_text or "{}"),
        "inputs": inputs,
    }
    finished = table_exists(con, "build_verdict") and bool(
        con.execute(
            "select count(*) from build_run_results where invocation_id = ?", [invocation_id]
        ).fetchall()[0][0]
    )
    if not finished:
        return Verdict(finished=False, **common)
    failed = [
        FailedNode(*row)
        for row in con.execute(
            "select node_name, unique_id, resource_type, status, message, invocation_id"
            " from build_verdict where is_failure order by resource_type desc, unique_id"
        ).fetchall()
    ]
    checked = con.execute(
        "select invocation_id, count(*), max(recorded_at) from build_verdict"
        " where status is not null group by invocation_id order by 3"
    ).fetchall()
    return Verdict(
        finished=True,
        invocation_ids=[row[0] for row in checked],
        nodes_checked=sum(row[1] for row in checked),
        failed=failed,
        **common,
    )


def refusal(verdict: Verdict | None, subject: str) -> str | None:
    """Why `subject` (a database, an export) must not be handed on, or None when it may.

    The message says what is wrong and what to do; callers add how to override.
    """
    if verdict is None:
        return (
            f"{subject} carries no build verdict (no build_runs table): it was built before "
            "builds recorded one, or not by dbt. Rebuild it with `make build` (or `dbt build`)."
        )
    if not verdict.finished:
        return (
            f"the latest dbt command on {subject}, {verdict.describe()}: it was killed or "
            "crashed, so its tables may be half-written. Rebuild with `make build`."
        )
    if verdict.failed:
        return (
            f"the build of {subject} failed: {verdict.describe()}. Look at the failures (dbt's "
            "output, `select * from build_verdict where is_failure`, docs/validation.md), fix "
            "the data or vars and rebuild with `make build`."
        )
    return None
