"""Load a recommendations export into PostgreSQL, atomically, ready for a front end.

    python scripts/load_postgres.py --source s3://bucket/prefix/ --dsn postgresql://...
    python scripts/load_postgres.py --source exports/                  # DSN from DATABASE_URL
    python scripts/load_postgres.py --source exports/ --export recommendations_<ts>.json
    python scripts/load_postgres.py --rollback                         # previous export live again

Reads the export JSON (by default the one `latest.json` in --source points to)
and its manifest, checks the sha256 and every product and rank, then in ONE
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
import datetime as dt
import hashlib
import json
import math
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
from psycopg import sql
from recommender_io.verdict import OVERRIDE_FLAG, Verdict, refusal

LIVE = "product_recommendations"
PREVIOUS = "product_recommendations_previous"
LOADING = "product_recommendations_loading"
SWAPPING = "product_recommendations_swapping"
EXPORTS = "recommendation_exports"
BASE_COLUMNS = ("product_id", "recommendation_rank", "recommended_product_id")
RICH_FIELDS = ("similarity", "pair_count", "product_category", "recommended_category")
RICH_KEYS = frozenset({"rank", "product_id", *RICH_FIELDS})
COLUMN_TYPES = {
    "product_id": "text not null",
    "recommendation_rank": "integer not null",
    "recommended_product_id": "text not null",
    "similarity": "double precision not null",
    "pair_count": "bigint not null",
    "product_category": "text",
    "recommended_category": "text",
}
MAX_PROBLEMS_SHOWN = 10


class LoadError(Exception):
    """Something the user can fix; the message says what is wrong and what to do."""


# --- reading the export -------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where exports live: a local folder or s3://bucket/prefix/."""

    uri: str
    folder: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None

    def key(self, name: str) -> str:
        """An object key inside the source; names given without the prefix get it."""
        if self.bucket is None or name.startswith(self.prefix):
            return name
        return self.prefix + name

    def describe(self, key: str) -> str:
        if self.bucket is not None:
            return f"s3://{self.bucket}/{key}"
        assert self.folder is not None
        return str(self.folder / key)

    def read(self, key: str) -> bytes:
        if self.bucket is None:
            assert self.folder is not None
            path = self.folder / key
            try:
                return path.read_bytes()
            except FileNotFoundError as exc:
                raise LoadError(f"{path} does not exist. Run `make export` first.") from exc
            except OSError as exc:
                raise LoadError(f"cannot read {path}: {exc}") from exc
        return read_s3(self.bucket, key, self.endpoint_url)


def read_s3(bucket: str, key: str, endpoint_url: str | None) -> bytes:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"s3://{bucket}/{key}"
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3})
    try:
        client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except NoCredentialsError as exc:
        raise LoadError(
            f"no AWS credentials to read {where}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise LoadError(f"{where} does not exist. Check --source/--export.") from exc
        if code == "NoSuchBucket":
            raise LoadError(f"bucket {bucket} does not exist. Check --source.") from exc
        raise LoadError(f"cannot read {where}: {exc}") from exc
    except BotoCoreError as exc:
        raise LoadError(
            f"cannot read {where}: {exc}. Check --endpoint-url/AWS_ENDPOINT_URL and the network."
        ) from exc


def parse_source(uri: str, endpoint_url: str | None) -> tuple[Source, str | None]:
    """The Source, plus an export name when `uri` names a JSON file rather than a folder."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise LoadError(f"--source {uri} has no bucket; use s3://bucket/prefix/.")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Source(uri=uri, bucket=bucket, prefix=prefix, endpoint_url=endpoint_url), None
    path = Path(uri)
    if path.suffix == ".json" and path.is_file():
        return Source(uri=str(path.parent), folder=path.parent), path.name
    if not path.exists():
        raise LoadError(
            f"--source {uri} does not exist. Run `make export` first (it writes exports/), "
            "or point --source / RECOMMENDER_EXPORT_DEST at the exports."
        )
    if not path.is_dir():
        raise LoadError(f"--source {uri} is neither a folder nor s3://bucket/prefix/.")
    return Source(uri=uri, folder=path), None


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise LoadError(f"key {key!r} appears twice in the same JSON object")
        seen[key] = value
    return seen


def parse_json(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{where} is not UTF-8 ({exc}). Re-run the export.") from exc
    try:
        return json.loads(text, object_pairs_hook=reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise LoadError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "it is corrupt or was cut short. Re-run the export."
        ) from exc
    except LoadError as exc:
        raise LoadError(f"{where}: {exc}. Re-run the export.") from exc


@dataclass(frozen=True)
class Export:
    """A verified export, ready to load."""

    key: str
    location: str
    sha256: str
    format: str
    manifest: dict[str, Any]
    rows: list[tuple[Any, ...]]
    product_count: int
    exported_at: dt.datetime | None

    @property
    def verdict(self) -> Verdict | None:
        """The verdict of the build it was exported from, as its manifest records it."""
        return Verdict.from_manifest(self.manifest.get("build"))

    @property
    def columns(self) -> tuple[str, ...]:
        return BASE_COLUMNS + (RICH_FIELDS if self.format == "rich" else ())


def manifest_key_for(export_key: str) -> str:
    if not export_key.endswith(".json"):
        raise LoadError(f"export {export_key} does not end in .json; name the export JSON file.")
    return export_key[: -len(".json")] + ".manifest.json"


def read_export(source: Source, export_name: str | None) -> Export:
    """Read and verify the export JSON and its manifest; raises LoadError on any problem."""
    expected_sha: str | None = None
    if export_name is None:
        latest_key = source.key("latest.json")
        latest = parse_json(source.read(latest_key), source.describe(latest_key))
        if not isinstance(latest, dict) or not isinstance(latest.get("export_key"), str):
            raise LoadError(f"{source.describe(latest_key)} has no export_key. Re-run the export.")
        export_key = latest["export_key"]
        manifest_key = latest.get("manifest_key") or manifest_key_for(export_key)
        expected_sha = latest.get("sha256")
    else:
        export_key = source.key(export_name)
        manifest_key = manifest_key_for(export_key)
    location = source.describe(export_key)
    manifest = parse_json(source.read(manifest_key), source.describe(manifest_key))
    raw = source.read(export_key)
    sha = hashlib.sha256(raw).hexdigest()
    if not isinstance(manifest, dict):
        raise LoadError(f"{source.describe(manifest_key)} is not a JSON object. Re-run the export.")
    for name, claimed in (("manifest", manifest.get("sha256")), ("latest.json", expected_sha)):
        if claimed is not None and claimed != sha:
            raise LoadError(
                f"checksum mismatch for {location}: {name} says sha256 {claimed}, the file "
                f"hashes to {sha}. The file changed or was cut short after the export; "
                "re-run the export (nothing was loaded)."
            )
    if isinstance(manifest.get("bytes"), int) and manifest["bytes"] != len(raw):
        raise LoadError(
            f"{location} is {len(raw)} bytes but its manifest says {manifest['bytes']}: it was "
            "cut short or changed after the export. Re-run the export (nothing was loaded)."
        )
    if manifest.get("sha256") is None:
        raise LoadError(f"{source.describe(manifest_key)} has no sha256. Re-run the export.")
    described = manifest.get("export_key")
    if described and PurePosixPath(described).name != PurePosixPath(export_key).name:
        raise LoadError(
            f"{source.describe(manifest_key)} describes {described}, not {export_key}. "
            "Re-run the export."
        )
    created_at = manifest.get("created_at")
    exported_at = None
    if created_at is not None:
        try:
            exported_at = dt.datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
        except ValueError as exc:
            raise LoadError(
                f"{source.describe(manifest_key)}: created_at {created_at!r} is not an ISO "
                "8601 time. Re-run the export."
            ) from exc
    export_format = manifest.get("format")
    if export_format not in ("tutorial", "rich"):
        raise LoadError(
            f"{source.describe(manifest_key)}: format {export_format!r} is not "
            "'tutorial' or 'rich'."
        )
    data = parse_json(raw, location)
    rows, problems = rows_from_export(data, export_format, top_k_of(manifest))
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise LoadError(
            f"{location} is malformed ({len(problems)} problem(s)); nothing was loaded:\n  {shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
            + "\nFix the export (re-run `make export`) and load again."
        )
    product_count = len(data)
    if product_count == 0:
        raise LoadError(
            f"{location} has no products; refusing to replace the live table with an empty one."
        )
    for field_name, actual in (("row_count", len(rows)), ("product_count", product_count)):
        claimed = manifest.get(field_name)
        if claimed is not None and claimed != actual:
            raise LoadError(
                f"{location} holds {actual} {field_name.replace('_count', 's')} but its manifest "
                f"says {field_name} {claimed}. Re-run the export."
            )
    return Export(
        key=export_key,
        location=location,
        sha256=sha,
        format=export_format,
        manifest=manifest,
        rows=rows,
        product_count=product_count,
        exported_at=exported_at,
    )


def check_verdict(export: Export, allow: bool) -> None:
    """Refuse an export whose build failed or recorded no verdict, unless allowed."""
    problem = refusal(export.verdict, f"the build {export.location} was exported from")
    if problem is None:
        return
    if not allow:
        raise LoadError(f"{problem} Or pass {OVERRIDE_FLAG} to load it anyway.")
    print(f"warning: loading anyway ({OVERRIDE_FLAG}): {problem}", file=sys.stderr)


def top_k_of(manifest: dict[str, Any]) -> int | None:
    variables = manifest.get("vars")
    top_k = variables.get("top_k") if isinstance(variables, dict) else None
    return top_k if isinstance(top_k, int) and not isinstance(top_k, bool) else None


def id_problem(value: Any) -> str | None:
    """Why `value` cannot be a product id, or None when it can."""
    if not isinstance(value, str):
        return f"is {type(value).__name__} {value!r}, not a string"
    if not value.strip():
        return "is empty"
    if value != value.strip():
        return f"{value!r} has leading or trailing whitespace"
    if ";" in value:
        return f"{value!r} contains ';' (the tutorial format's separator)"
    if "\x00" in value:
        return f"{value!r} contains a NUL character"
    return None


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rich_item_problem(item: Any, position: int) -> str | None:
    if not isinstance(item, dict):
        return f"item {position} is {type(item).__name__}, not an object"
    missing = sorted(RICH_KEYS - item.keys())
    unknown = sorted(item.keys() - RICH_KEYS)
    if missing or unknown:
        return f"item {position} lacks {missing} / has unknown fields {unknown}"
    if item["rank"] != position or not is_integer(item["rank"]):
        return f"item {position} has rank {item['rank']!r}; ranks must be 1..n in order"
    similarity = item["similarity"]
    if not isinstance(similarity, int | float) or isinstance(similarity, bool):
        return f"rank {position}: similarity {similarity!r} is not a number"
    if not math.isfinite(similarity) or not 0 <= similarity <= 1 + 1e-9:
        return f"rank {position}: similarity {similarity!r} is not in [0, 1]"
    if not is_integer(item["pair_count"]) or item["pair_count"] < 0:
        return f"rank {position}: pair_count {item['pair_count']!r} is not a whole number >= 0"
    for name in ("product_category", "recommended_category"):
        if item[name] is not None and not isinstance(item[name], str):
            return f"rank {position}: {name} {item[name]!r} is not a string or null"
    return None


def rows_from_export(
    data: Any, export_format: str, top_k: int | None
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Table rows from the parsed JSON, and every problem found (empty when well-formed)."""
    if not isinstance(data, dict):
        return [], [f"the top level is {type(data).__name__}, not an object of products"]
    rows: list[tuple[Any, ...]] = []
    problems: list[str] = []
    for product_id, value in data.items():
        where = f"product {product_id!r}"
        reason = id_problem(product_id)
        if reason:
            problems.append(f"{where}: the product id {reason}")
            continue
        if export_format == "tutorial":
            if not isinstance(value, str):
                problems.append(f"{where}: value is {type(value).__name__}, not 'id1;id2;...'")
                continue
            items: list[Any] = value.split(";")
            recommended = items
        else:
            if not isinstance(value, list):
                problems.append(f"{where}: value is {type(value).__name__}, not a list of ranks")
                continue
            items = value
            item_problems = [rich_item_problem(item, n) for n, item in enumerate(items, start=1)]
            item_problems = [p for p in item_problems if p]
            if item_problems:
                problems.append(f"{where}: {item_problems[0]}")
                continue
            recommended = [item["product_id"] for item in items]
        if not items:
            problems.append(f"{where}: has no recommendations (an empty list)")
            continue
        if top_k is not None and len(items) > top_k:
            problems.append(f"{where}: {len(items)} recommendations, more than top_k={top_k}")
            continue
        product_problems = []
        for rank, rec in enumerate(recommended, start=1):
            reason = id_problem(rec)
            if reason:
                product_problems.append(f"{where}: rank {rank}: the recommended id {reason}")
            elif rec == product_id:
                product_problems.append(f"{where}: rank {rank} recommends the product itself")
        if len(set(recommended)) != len(recommended) and not product_problems:
            product_problems.append(f"{where}: recommends the same product twice: {recommended}")
        if product_problems:
            problems += product_problems
            continue
        for rank, rec in enumerate(recommended, start=1):
            if export_format == "tutorial":
                rows.append((product_id, rank, rec))
            else:
                item = items[rank - 1]
                extra = [item[name] for name in RICH_FIELDS[1:]]
                rows.append((product_id, rank, rec, float(item["similarity"]), *extra))
    return rows, problems


# --- PostgreSQL -----------------------------------------------------------------------------


def password_of(dsn: str) -> str | None:
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[return-value]
    except psycopg.Error:
        match = re.search(r"://[^:/@]*:([^@]*)@", dsn) or re.search(r"password\s*=\s*(\S+)", dsn)
        return match.group(1) if match else None


def redact(text: str, dsn: str) -> str:
    """`text` without the DSN's password (errors can quote the connection string)."""
    password = password_of(dsn)
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def describe_dsn(dsn: str) -> str:
    """user@host:port/dbname, never the password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "(unparseable DSN)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or 5432
    return f"{parts.get('user') or '?'}@{host}:{port}/{parts.get('dbname') or '?'}"


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
            if export is None:
                message = rollback(conn, args.schema, args.lock_timeout)
            else:
                message = load(conn, args.schema, export, args.lock_timeout)
    except LoadError as exc:
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
