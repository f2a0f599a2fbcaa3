"""Load a recommendations export into PostgreSQL, atomically, ready for a front end.

    python scripts/load_postgres.py --source s3://bucket/prefix/ --dsn postgresql://...
    python scripts/load_postgres.py --source exports/                  # DSN from DATABASE_URL
    python scripts/load_postgres.py --source exports/ --export recommendations_<ts>.json
    python scripts/load_postgres.py --rollback                         # previous export live again

Reads the export JSON (by default the one `latest.json` in --source points to)
and its manifest, checks the sha256, the JSON schemas and every product and
rank, refuses an export whose build did not pass (the verdict its manifest
carries; --allow-failed-validation overrides), then in ONE
transaction: creates a new table, COPYs the rows in, adds the primary key and
an index, and swaps it in place of the live `product_recommendations` table.
Readers keep seeing the previous version until the swap commits; the swap is
the only moment the live table is locked (bounded by --lock-timeout). The
table it replaces is kept as `product_recommendations_previous` so
`--rollback` can make it live again (one previous export is kept; older ones
are dropped). `recommendation_exports` records every export loaded, its
checksum, when it was loaded and which one is live. Loading the export that
is already live changes nothing and says so. On any error nothing changes.

Readers in READ COMMITTED (PostgreSQL's default, what web backends use) see the
old table or the new one, never a mix or nothing. A REPEATABLE READ or
SERIALIZABLE transaction that took its snapshot before the swap and reads the
table after it sees it empty (the new table's rows are newer than its
snapshot): such transactions must not span a load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from recommender_io.export_format import Export, ExportFormatError, read_export
from recommender_io.postgres_dsn import describe_dsn, redact
from recommender_io.storage import Location, StorageError, open_location
from recommender_io.verdict import OVERRIDE_FLAG, refusal

LIVE = "product_recommendations"
PREVIOUS = "product_recommendations_previous"
LOADING = "product_recommendations_loading"
SWAPPING = "product_recommendations_swapping"
EXPORTS = "recommendation_exports"
COLUMN_TYPES = {
    "product_id": "text not null",
    "recommendation_rank": "integer not null",
    "recommended_product_id": "text not null",
    "similarity": "double precision not null",
    "pair_count": "bigint not null",
    "product_category": "text",
    "recommended_category": "text",
}


class LoadError(Exception):
    """Something the user can fix; the message says what is wrong and what to do."""


# --- which export ---------------------------------------------------------------------------


def parse_source(uri: str, endpoint_url: str | None) -> tuple[Location, str | None]:
    """The location, plus an export name when `uri` names a JSON file rather than a folder."""
    if uri.startswith("s3://") or "://" in uri:
        return open_location(uri, endpoint_url), None
    path = Path(uri)
    if path.suffix == ".json" and path.is_file():
        return open_location(str(path.parent)), path.name
    if not path.exists():
        raise LoadError(
            f"--source {uri} does not exist. Run `make export` first (it writes exports/), "
            "or point --source / RECOMMENDER_EXPORT_DEST at the exports."
        )
    if not path.is_dir():
        raise LoadError(f"--source {uri} is neither a folder nor s3://bucket/prefix/.")
    return open_location(uri), None


def check_verdict(export: Export, allow: bool) -> None:
    """Refuse an export whose build failed or recorded no verdict, unless allowed."""
    problem = refusal(export.verdict, f"the build {export.location} was exported from")
    if problem is None:
        return
    if not allow:
        raise LoadError(f"{problem} Or pass {OVERRIDE_FLAG} to load it anyway.")
    print(f"warning: loading anyway ({OVERRIDE_FLAG}): {problem}", file=sys.stderr)


# --- PostgreSQL -----------------------------------------------------------------------------


def connect(dsn: str, connect_timeout: int) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(
            dsn,
            connect_timeout=connect_timeout,
            application_name="load_postgres",
            autocommit=True,  # each transaction() block is then exactly BEGIN ... COMMIT
        )
    except psycopg.Error as exc:
        raise LoadError(
            f"cannot connect to PostgreSQL at {describe_dsn(dsn)}: "
            f"{redact(str(exc).strip(), dsn)}\n"
            "Check that the server is running and --dsn / DATABASE_URL is right "
            "(nothing was changed)."
        ) from exc


def ident(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def lock_key(schema: str) -> int:
    """An advisory-lock key per schema, so two loaders never swap tables at once."""
    return zlib.crc32(f"load_postgres:{schema}".encode())


def table_exists(cur: psycopg.Cursor[Any], schema: str, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", [f'"{schema}"."{name}"'])
    row = cur.fetchone()
    return bool(row and row[0])


def begin(cur: psycopg.Cursor[Any], schema: str, lock_timeout_s: float) -> None:
    """Take the per-schema loader lock and make sure the schema and bookkeeping exist."""
    cur.execute("select set_config('lock_timeout', %s, true)", [f"{int(lock_timeout_s * 1000)}ms"])
    cur.execute("select pg_try_advisory_xact_lock(%s)", [lock_key(schema)])
    row = cur.fetchone()
    if not (row and row[0]):
        raise LoadError(
            f"another load_postgres is loading into schema {schema} right now; "
            "wait for it to finish, then retry."
        )
    cur.execute("select exists (select from pg_namespace where nspname = %s)", [schema])
    row = cur.fetchone()
    if not (row and row[0]):  # `create schema if not exists` needs CREATE on the database
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    cur.execute(
        sql.SQL(
            """
            create table if not exists {exports} (
                export_id bigint generated always as identity primary key,
                export_key text not null,
                source text not null,
                sha256 text not null,
                format text not null,
                row_count bigint not null,
                product_count bigint not null,
                exported_at timestamptz,
                project_version text,
                build_invocation_id text,
                manifest jsonb not null,
                loaded_at timestamptz not null default now(),
                status text not null
                    check (status in ('live', 'previous', 'dropped')),
                status_changed_at timestamptz not null default now(),
                is_live boolean generated always as (status = 'live') stored,
                -- At most one live and one previous export, checked at commit so that
                -- --rollback can swap the two in one statement.
                constraint recommendation_exports_one_per_status
                    exclude using btree (status with =)
                    where (status in ('live', 'previous'))
                    deferrable initially deferred
            )
            """
        ).format(exports=ident(schema, EXPORTS))
    )
    # Tables made before exports carried their build's verdict get the column. Asked first:
    # ALTER locks the table against its readers even when there is nothing to add.
    cur.execute(
        "select count(*) from information_schema.columns"
        " where table_schema = %s and table_name = %s and column_name = 'build_invocation_id'",
        [schema, EXPORTS],
    )
    row = cur.fetchone()
    if not (row and row[0]):
        cur.execute(
            sql.SQL("alter table {} add column build_invocation_id text").format(
                ident(schema, EXPORTS)
            )
        )


def export_with_status(cur: psycopg.Cursor[Any], schema: str, status: str) -> dict[str, Any] | None:
    cur.execute(
        sql.SQL(
            "select export_id, export_key, source, sha256, format, row_count, loaded_at "
            "from {} where status = %s"
        ).format(ident(schema, EXPORTS)),
        [status],
    )
    row = cur.fetchone()
    if row is None:
        return None
    names = ("export_id", "export_key", "source", "sha256", "format", "row_count", "loaded_at")
    return dict(zip(names, row, strict=True))


def rename_table(cur: psycopg.Cursor[Any], schema: str, old: str, new: str) -> None:
    """Rename a recommendations table with its primary key and index, so names stay unique."""
    cur.execute(
        sql.SQL("alter table {} rename to {}").format(ident(schema, old), sql.Identifier(new))
    )
    cur.execute(
        sql.SQL("alter table {} rename constraint {} to {}").format(
            ident(schema, new), sql.Identifier(f"{old}_pkey"), sql.Identifier(f"{new}_pkey")
        )
    )
    cur.execute(
        sql.SQL("alter index {} rename to {}").format(
            ident(schema, f"{old}_recommended_idx"), sql.Identifier(f"{new}_recommended_idx")
        )
    )


def drop_table(cur: psycopg.Cursor[Any], schema: str, name: str) -> None:
    cur.execute(sql.SQL("drop table if exists {}").format(ident(schema, name)))


def copy_grants(cur: psycopg.Cursor[Any], schema: str, from_table: str, to_table: str) -> None:
    """Give the new table the live table's grants (e.g. SELECT for the web backend's role),
    which a table swap would otherwise lose."""
    cur.execute(
        """
        select
            case when acl.grantee = 0 then 'public' else quote_ident(r.rolname) end,
            acl.privilege_type,
            acl.is_grantable
        from pg_class as c
        cross join lateral aclexplode(c.relacl) as acl
        left join pg_roles as r on r.oid = acl.grantee
        where c.oid = to_regclass(%s) and acl.grantee <> c.relowner
        """,
        [f'"{schema}"."{from_table}"'],
    )
    for grantee, privilege, grantable in cur.fetchall():
        cur.execute(
            sql.SQL("grant {} on {} to {}{}").format(
                sql.SQL(privilege),
                ident(schema, to_table),
                sql.SQL(grantee),
                sql.SQL(" with grant option" if grantable else ""),
            )
        )


def create_loaded_table(cur: psycopg.Cursor[Any], schema: str, export: Export) -> None:
    """The new table, filled by COPY, with its primary key, index and statistics."""
    drop_table(cur, schema, LOADING)  # cannot exist outside a failed transaction; be sure
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(COLUMN_TYPES[name]))
        for name in export.columns
    )
    cur.execute(sql.SQL("create table {} ({})").format(ident(schema, LOADING), columns))
    copy_sql = sql.SQL("copy {} ({}) from stdin").format(
        ident(schema, LOADING), sql.SQL(", ").join(map(sql.Identifier, export.columns))
    )
    with cur.copy(copy_sql) as copy:
        for row in export.rows:
            copy.write_row(row)
    cur.execute(
        sql.SQL(
            "alter table {} add constraint {} primary key (product_id, recommendation_rank)"
        ).format(ident(schema, LOADING), sql.Identifier(f"{LOADING}_pkey"))
    )
    cur.execute(
        sql.SQL("create index {} on {} (recommended_product_id)").format(
            sql.Identifier(f"{LOADING}_recommended_idx"), ident(schema, LOADING)
        )
    )
    cur.execute(
        sql.SQL("comment on table {} is {}").format(
            ident(schema, LOADING),
            sql.Literal(
                f"Recommendations from {export.location} (sha256 {export.sha256}); "
                f"see {EXPORTS}. Loaded by scripts/load_postgres.py."
            ),
        )
    )
    cur.execute(sql.SQL("analyze {}").format(ident(schema, LOADING)))


def load(conn: psycopg.Connection[Any], schema: str, export: Export, lock_timeout_s: float) -> str:
    """Swap `export` in as the live table in one transaction; returns what happened."""
    with conn.transaction(), conn.cursor() as cur:
        begin(cur, schema, lock_timeout_s)
        live = export_with_status(cur, schema, "live")
        live_exists = table_exists(cur, schema, LIVE)
        if live_exists and live is None:
            raise LoadError(
                f"{schema}.{LIVE} exists but {schema}.{EXPORTS} records no live export: it was "
                "not made by this loader. Rename or drop it, or use another --schema."
            )
        if live is not None and not live_exists:
            raise LoadError(
                f"{schema}.{EXPORTS} says export {live['export_id']} is live but "
                f"{schema}.{LIVE} is missing (dropped by hand?). To start afresh, run "
                f"`update {schema}.{EXPORTS} set status = 'dropped' where status <> 'dropped'` "
                "and load again."
            )
        if live and live["sha256"] == export.sha256:
            return (
                f"already live: {export.location} (sha256 {export.sha256[:12]}...) has been "
                f"live since {live['loaded_at']:%Y-%m-%d %H:%M:%S %Z}; nothing to do."
            )
        create_loaded_table(cur, schema, export)
        # The swap: the only statements that lock the live table (ACCESS EXCLUSIVE, until
        # commit, a few milliseconds). lock_timeout bounds the wait behind long readers.
        swap_started = time.perf_counter()
        if live_exists:
            copy_grants(cur, schema, LIVE, LOADING)
            drop_table(cur, schema, PREVIOUS)
            rename_table(cur, schema, LIVE, PREVIOUS)
        rename_table(cur, schema, LOADING, LIVE)
        exports = ident(schema, EXPORTS)
        cur.execute(
            sql.SQL(
                "update {} set status = 'dropped', status_changed_at = now() "
                "where status = 'previous'"
            ).format(exports)
        )
        cur.execute(
            sql.SQL(
                "update {} set status = 'previous', status_changed_at = now() where status = 'live'"
            ).format(exports)
        )
        manifest = export.manifest
        cur.execute(
            sql.SQL(
                "insert into {} (export_key, source, sha256, format, row_count, product_count, "
                "exported_at, project_version, build_invocation_id, manifest, status) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'live') returning export_id"
            ).format(exports),
            [
                export.key,
                export.location,
                export.sha256,
                export.format,
                len(export.rows),
                export.product_count,
                export.exported_at,
                manifest.get("project_version"),
                export.verdict.invocation_id if export.verdict else None,
                psycopg.types.json.Jsonb(manifest),
            ],
        )
        row = cur.fetchone()
        export_id = row[0] if row else "?"
    swap_ms = (time.perf_counter() - swap_started) * 1000
    replaced = f"; export {live['export_id']} kept as {PREVIOUS}" if live else ""
    return (
        f"loaded {export.location}: {len(export.rows)} rows for {export.product_count} products "
        f"({export.format} format) into {schema}.{LIVE} as export {export_id}{replaced}. "
        f"The swap locked the live table for {swap_ms:.0f} ms."
    )


def rollback(conn: psycopg.Connection[Any], schema: str, lock_timeout_s: float) -> str:
    """Make the previous export live again (and the live one previous) in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        begin(cur, schema, lock_timeout_s)
        live = export_with_status(cur, schema, "live")
        previous = export_with_status(cur, schema, "previous")
        if live is None or previous is None or not table_exists(cur, schema, PREVIOUS):
            raise LoadError(
                f"nothing to roll back to in schema {schema}: it takes two loaded exports "
                "(one previous export is kept). Load the export you want with --export instead."
            )
        copy_grants(cur, schema, LIVE, PREVIOUS)
        rename_table(cur, schema, LIVE, SWAPPING)
        rename_table(cur, schema, PREVIOUS, LIVE)
        rename_table(cur, schema, SWAPPING, PREVIOUS)
        cur.execute(
            sql.SQL(
                "update {} set status = case status when 'live' then 'previous' else 'live' end, "
                "status_changed_at = now() where status in ('live', 'previous')"
            ).format(ident(schema, EXPORTS))
        )
    return (
        f"rolled back: export {previous['export_id']} ({previous['source']}) is live again in "
        f"{schema}.{LIVE}; export {live['export_id']} is kept as {PREVIOUS} "
        "(--rollback again undoes this)."
    )


def lock_problem(exc: psycopg.Error) -> str:
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return (
            " A long-running query held the table longer than --lock-timeout; retry, or raise "
            "--lock-timeout."
        )
    return ""


def connection_lost(
    dsn: str, args: argparse.Namespace, export: Export | None, exc: psycopg.Error
) -> str:
    """What to tell when the connection broke mid-load (a server restart, the network).

    The transaction either committed or did not: asked again on a new connection (for up
    to --reconnect-wait seconds) rather than guessed, so the message says which export
    is live.
    """
    cause = redact(str(exc).strip(), dsn).rstrip(".")
    lost = f"error: lost the connection to PostgreSQL at {describe_dsn(dsn)} during the load "
    lost += f"({cause})."
    deadline = time.monotonic() + args.reconnect_wait
    while True:
        try:
            with (
                psycopg.connect(dsn, connect_timeout=args.connect_timeout) as conn,
                conn.cursor() as cur,
            ):
                live = (
                    export_with_status(cur, args.schema, "live")
                    if table_exists(cur, args.schema, EXPORTS)
                    else None
                )
            break
        except psycopg.Error:
            if time.monotonic() > deadline:
                return (
                    f"{lost} The server is not back after {args.reconnect_wait:g} s, so which "
                    "export is live is unknown: check recommendation_exports when it is, and "
                    "run the load again (it is a no-op if it had committed)."
                )
            time.sleep(1)
    if export is not None and live is not None and live["sha256"] == export.sha256:
        return (
            f"{lost} It had committed: {export.location} is live (export {live['export_id']}); "
            "nothing more to do."
        )
    was = f"export {live['export_id']} ({live['source']})" if live else "no export"
    return (
        f"{lost} It was rolled back: the live table is unchanged, still {was}. Run the load "
        "again once the server is up."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--source",
        default=os.environ.get("RECOMMENDER_EXPORT_DEST") or "exports/",
        help="folder or s3://bucket/prefix/ holding the exports and latest.json "
        "(default: $RECOMMENDER_EXPORT_DEST or exports/, where `make export` writes)",
    )
    parser.add_argument(
        "--export",
        help="the export JSON to load, by name or key (default: the one latest.json points to)",
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql://user@host:port/dbname (default: $DATABASE_URL)",
    )
    parser.add_argument(
        "--schema",
        default=os.environ.get("RECOMMENDER_PG_SCHEMA", "public"),
        help="schema of the tables (default: $RECOMMENDER_PG_SCHEMA or public)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL"),
        help="S3 endpoint, e.g. a local S3 server (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="make the previous export live again instead of loading one",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="read and verify the export, do not connect to PostgreSQL",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=float(os.environ.get("RECOMMENDER_PG_LOCK_TIMEOUT", "5")),
        help="seconds the swap may wait for readers to release the live table (default: 5)",
    )
    parser.add_argument("--connect-timeout", type=int, default=10, help="seconds (default: 10)")
    parser.add_argument(
        "--reconnect-wait",
        type=float,
        default=30.0,
        help="after losing the connection mid-load, seconds to wait for the server to find "
        "out whether the load committed (default: 30)",
    )
    parser.add_argument(
        OVERRIDE_FLAG,
        action="store_true",
        help="load an export whose build failed or recorded no verdict (a warning says so)",
    )
    args = parser.parse_args(argv)
    if args.check_only and args.rollback:
        parser.error("--check-only verifies an export; it cannot be combined with --rollback")
    if not args.check_only and not args.dsn:
        parser.error("--dsn is required (or set DATABASE_URL)")
    dsn = args.dsn or ""
    try:
        export = None
        if not args.rollback:
            source, named = parse_source(args.source, args.endpoint_url)
            export = read_export(source, args.export or named)
            check_verdict(export, args.allow_failed_validation)
            if args.check_only:
                print(
                    f"ok: {export.location} is well-formed: {len(export.rows)} rows for "
                    f"{export.product_count} products, sha256 {export.sha256}."
                )
                return 0
        with connect(dsn, args.connect_timeout) as conn:
            try:
                if export is None:
                    message = rollback(conn, args.schema, args.lock_timeout)
                else:
                    message = load(conn, args.schema, export, args.lock_timeout)
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    raise
                print(connection_lost(dsn, args, export, exc), file=sys.stderr)
                return 1
    except (LoadError, StorageError, ExportFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        print(
            f"error: PostgreSQL at {describe_dsn(dsn)} refused the load: "
            f"{redact(str(exc).strip(), dsn).rstrip('.')}.{lock_problem(exc)} Nothing was changed.",
            file=sys.stderr,
        )
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
