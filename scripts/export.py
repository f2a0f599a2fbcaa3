"""Export product_recommendations as JSON to a local folder or S3: verified, never partial.

Reads the table from the DuckDB file dbt built (read-only), or with --target spark
from the tables a `dbt build --target spark` made (the same profile: profiles.yml's
spark output), and writes, under a new timestamped name that is never overwritten:

  <prefix>recommendations_<YYYY-MM-DD_HH-MM>.json           the recommendations
  <prefix>recommendations_<YYYY-MM-DD_HH-MM>.manifest.json  what, from where, checksum
  <prefix>latest.json                                       pointer to the newest export

Each file is read back and its SHA-256 compared before the next step; latest.json
moves last, only when the export and its manifest are verified. Anything wrong
(missing table, failed validation tests, unreachable S3, bad credentials, access
denied, missing bucket, existing key) stops the export with exit code 1 and a
message saying what to do; the previous export and latest.json stay as they were.

examples:
  python scripts/export.py                                 # -> exports/ (local folder)
  python scripts/export.py --dry-run                       # show what would be written
  python scripts/export.py --dest s3://my-bucket/recs/     # boto3 credential chain
  RECOMMENDER_EXPORT_DEST=s3://my-bucket/recs/ make export
  python scripts/export.py --dest s3://recs/ --endpoint-url http://127.0.0.1:9000
  python scripts/export.py --format rich --duckdb /data/recommender.duckdb
  python scripts/export.py --target spark                  # a Spark build (make install-spark)
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from recommender_io.duckdb_files import (
    DuckDBFileError,
    add_duckdb_argument,
    open_read_only,
    table_exists,
)
from recommender_io.export_format import (
    FORMATS,
    SEPARATOR,
    TIMESTAMP_FORMAT,
    ExportFormatError,
    check_schema,
    dumps,
    export_names,
)
from recommender_io.spark_tables import SPARK_TARGET, SparkTablesError, open_spark, spark_profile
from recommender_io.storage import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    Location,
    StorageError,
    Store,
    open_location,
    sha256_hex,
)
from recommender_io.verdict import OVERRIDE_FLAG, Verdict, read_verdict, refusal

MART = "product_recommendations"
VALIDATION_TABLE = "recommendation_validation_overall"


class ExportRefused(Exception):
    """A reason not to export; the message says what is wrong and what to do."""


def progress(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------- reading DuckDB


@dataclass
class Recommendation:
    rank: int
    product_id: str
    similarity: float
    pair_count: int
    product_category: str | None
    recommended_category: str | None


@dataclass
class MartData:
    products: dict[str, list[Recommendation]]
    row_count: int
    products_in_catalogue: int | None
    validation: Any
    verdict: Verdict | None


def json_safe(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def read_validation(con: duckdb.DuckDBPyConnection) -> Any:
    """The row(s) of recommendation_validation_overall, or None when it is not built."""
    if not table_exists(con, VALIDATION_TABLE):
        return None
    cursor = con.execute(f"select * from {VALIDATION_TABLE}")
    columns = [column[0] for column in cursor.description]
    rows = [
        {name: json_safe(value) for name, value in zip(columns, row, strict=True)}
        for row in cursor.fetchall()
    ]
    return rows[0] if len(rows) == 1 else rows


def open_source(args: argparse.Namespace) -> Any:
    """A connection to the build to export: the DuckDB file, or the Spark session's tables."""
    if args.target == SPARK_TARGET:
        try:
            return open_spark(target=args.target)
        except SparkTablesError as exc:
            raise ExportRefused(str(exc)) from exc
    try:
        return open_read_only(args.duckdb)
    except DuckDBFileError as exc:
        raise ExportRefused(str(exc)) from exc


def source_name(args: argparse.Namespace) -> str:
    """What the manifest names as the source (source_duckdb): the file, or the Spark schema."""
    if args.target == SPARK_TARGET:
        return f"spark:{source_label(args)}"
    return str(args.duckdb.resolve())


def source_label(args: argparse.Namespace) -> Path | str:
    """The build as progress and error messages name it: the DuckDB file, or the Spark schema."""
    if args.target != SPARK_TARGET:
        return args.duckdb
    try:
        return spark_profile().describe()
    except SparkTablesError as exc:
        raise ExportRefused(str(exc)) from exc


def read_mart(args: argparse.Namespace) -> MartData:
    duckdb_path = source_label(args)
    con = open_source(args)
    with con:
        if not table_exists(con, MART):
            raise ExportRefused(
                f"table {MART} is missing from {duckdb_path}. Run `make run` (dbt build) "
                "to create it, or pass the right file with --duckdb (or --target)."
            )
        rows = con.execute(
            "select product_id, recommendation_rank, recommended_product_id, similarity,"
            " pair_count, product_category, recommended_category"
            f" from {MART} order by product_id, recommendation_rank"
        ).fetchall()
        if not rows:
            raise ExportRefused(
                f"{MART} in {duckdb_path} is empty: no product has a recommendation, and an "
                "empty export would replace a good one. Check the input (sales_rejected, "
                "orders with several products) and the vars min_pair_count / min_similarity, "
                "then rebuild with `make run`."
            )
        products_in_catalogue = None
        if table_exists(con, "int_products"):
            products_in_catalogue = con.execute("select count(*) from int_products").fetchall()[0][
                0
            ]
        validation = read_validation(con)
        verdict = read_verdict(con)
    products: dict[str, list[Recommendation]] = {}
    for product_id, rank, recommended, similarity, pair_count, category, rec_category in rows:
        if product_id is None or recommended is None or rank is None or similarity is None:
            raise ExportRefused(
                f"{MART} in {duckdb_path} has a row with an empty product_id, rank, "
                "recommended_product_id or similarity; rebuild with `make run` (its tests "
                "catch this)."
            )
        products.setdefault(product_id, []).append(
            Recommendation(
                rank=int(rank),
                product_id=recommended,
                similarity=float(similarity),
                pair_count=int(pair_count or 0),
                product_category=category,
                recommended_category=rec_category,
            )
        )
    for product_id, recommendations in products.items():
        ranks = [recommendation.rank for recommendation in recommendations]
        if ranks != list(range(1, len(ranks) + 1)):
            raise ExportRefused(
                f"{MART} is inconsistent: product {product_id!r} has ranks {ranks}, "
                "expected 1, 2, ... Rebuild with `make run`."
            )
    return MartData(
        products=dict(sorted(products.items())),
        row_count=len(rows),
        products_in_catalogue=products_in_catalogue,
        validation=validation,
        verdict=verdict,
    )


# ------------------------------------------------------------------- the files


def tutorial_json(products: dict[str, list[Recommendation]]) -> bytes:
    """The tutorial's bytes: {"<product_id>": "<rec1>;<rec2>;..."}, indent 4, UTF-8."""
    payload: dict[str, str] = {}
    for product_id, recommendations in products.items():
        ids = [product_id, *(recommendation.product_id for recommendation in recommendations)]
        if any(SEPARATOR in value for value in ids):
            raise ExportRefused(
                f"product id in {ids!r} contains {SEPARATOR!r}, the separator of the "
                "tutorial format, so the list could not be split back. Use --format rich, "
                "or fix the ids (the staging model rejects such lines on rebuild)."
            )
        payload[product_id] = SEPARATOR.join(ids[1:])
    return json.dumps(payload, indent=4, ensure_ascii=False).encode("UTF-8")


def rich_json(products: dict[str, list[Recommendation]]) -> bytes:
    payload = {
        product_id: [
            {
                "rank": recommendation.rank,
                "product_id": recommendation.product_id,
                "similarity": recommendation.similarity,
                "pair_count": recommendation.pair_count,
                "product_category": recommendation.product_category,
                "recommended_category": recommendation.recommended_category,
            }
            for recommendation in recommendations
        ]
        for product_id, recommendations in products.items()
    }
    return json.dumps(payload, indent=4, ensure_ascii=False).encode("UTF-8")


# ------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="export.py",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_duckdb_argument(parser, "the DuckDB file dbt built, opened read-only")
    parser.add_argument(
        "--target",
        choices=["dev", SPARK_TARGET],
        default="dev",
        help="the dbt target that built the recommendations: dev (DuckDB, --duckdb) or spark "
        "(the tables of profiles.yml's spark output; needs `make install-spark`)",
    )
    parser.add_argument(
        "--dest",
        default=os.environ.get("RECOMMENDER_EXPORT_DEST") or "exports/",
        help="a local folder or s3://bucket/prefix/ (default: $RECOMMENDER_EXPORT_DEST or "
        "exports/)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=os.environ.get("RECOMMENDER_EXPORT_FORMAT") or "tutorial",
        help='tutorial: {"<product_id>": "<id1>;<id2>;..."}; rich: a list of objects with '
        "rank, similarity, pair_count and categories (default: $RECOMMENDER_EXPORT_FORMAT or "
        "tutorial)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="S3-compatible server, e.g. http://127.0.0.1:9000 (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        OVERRIDE_FLAG,
        action="store_true",
        help="export even if the build recorded in the database failed (or recorded no verdict);"
        " said in the manifest",
    )
    parser.add_argument(
        "--timestamp",
        help="the YYYY-MM-DD_HH-MM in the file name, UTC (default: now)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=DEFAULT_MAX_ATTEMPTS,
        help="tries per S3 request, with backoff (botocore's standard retries; default: "
        f"{DEFAULT_MAX_ATTEMPTS})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"S3 connect/read timeout in s (default: {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything, print what would be written, write nothing",
    )
    args = parser.parse_args(argv)
    if args.timestamp is not None:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}", args.timestamp):
            parser.error(
                f"--timestamp {args.timestamp!r}: use YYYY-MM-DD_HH-MM, e.g. 2024-05-01_13-05"
            )
        try:
            dt.datetime.strptime(args.timestamp, TIMESTAMP_FORMAT)
        except ValueError:
            parser.error(f"--timestamp {args.timestamp!r} is not a valid date and time")
    if args.max_attempts < 1:
        parser.error("--max-attempts must be at least 1")
    return args


def check_verdict(mart: MartData, duckdb_path: Path | str, allow: bool) -> None:
    """Refuse a database whose recorded build failed or did not record (unless allowed)."""
    verdict = mart.verdict
    if verdict is not None:
        progress(f"      {verdict.describe()}")
    problem = refusal(verdict, str(duckdb_path))
    if problem is None:
        return
    if allow:
        progress(f"      warning: exporting anyway ({OVERRIDE_FLAG}): {problem}")
        return
    raise ExportRefused(f"{problem} Or pass {OVERRIDE_FLAG} to export anyway.")


@dataclass
class ExportFiles:
    """The three files of one export: keys and bytes."""

    export_key: str
    manifest_key: str
    latest_key: str
    data: bytes = b""
    manifest: bytes = b""
    latest: bytes = b""


def build_manifest(
    args: argparse.Namespace,
    created_at: dt.datetime,
    export_key: str,
    mart: MartData,
    data: bytes,
) -> dict[str, Any]:
    """The manifest; its field names are a contract with the loader (docs/export.md)."""
    verdict = mart.verdict
    return {
        "created_at": created_at.isoformat(),
        "export_key": export_key,
        "format": args.format,
        "source_duckdb": source_name(args),
        "row_count": mart.row_count,
        "product_count": len(mart.products),
        "products_without_recommendations": (
            None
            if mart.products_in_catalogue is None
            else mart.products_in_catalogue - len(mart.products)
        ),
        "vars": verdict.vars if verdict else "unknown",
        "validation": mart.validation,
        "sha256": sha256_hex(data),
        "bytes": len(data),
        "project_version": (verdict.project_version if verdict else None) or "unknown",
        "build": verdict.to_manifest() if verdict else None,
        "allowed_failed_validation": verdict is None or not verdict.passed,
    }


def verify(store: Store, key: str, body: bytes) -> None:
    """Read key back; its SHA-256 must be the one written (S3's stored checksum too)."""
    got = sha256_hex(store.read(key))
    if got != sha256_hex(body):
        raise StorageError(
            f"{store.describe(key)} read back with sha256 {got}, not the {sha256_hex(body)} written"
        )


def write_verified(store: Store, files: ExportFiles) -> None:
    """JSON, then manifest, each read back; latest.json last. Failure leaves no new file."""
    written: list[str] = []
    try:
        for step_number, key, body in (
            (5, files.export_key, files.data),
            (6, files.manifest_key, files.manifest),
        ):
            progress(f"[{step_number}/7] writing {store.describe(key)} and reading it back")
            store.put_new(key, body)
            written.append(key)
            verify(store, key, body)
            progress(f"      verified: sha256 {sha256_hex(body)}")
        progress(f"[7/7] pointing {store.describe(files.latest_key)} at the new export")
        store.put_pointer(files.latest_key, files.latest)
    except (StorageError, OSError) as exc:
        remove_unreferenced(store, written)
        cause = str(exc) if isinstance(exc, StorageError) else f"writing the export failed: {exc}."
        raise ExportRefused(
            f"{cause} latest.json was not moved; fix the cause and run the export again."
        ) from exc
    try:
        verify(store, files.latest_key, files.latest)
    except (StorageError, OSError) as exc:
        # The pointer was written: the export it names stays (it is verified).
        raise ExportRefused(
            f"{store.describe(files.latest_key)} was written but reading it back "
            f"failed: {exc}. The export itself is verified; check latest.json by hand."
        ) from exc


def parse_latest(body: bytes | None, where: str) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        progress(f"      warning: {where} is not valid JSON; it will be replaced")
        return None
    return document if isinstance(document, dict) else None


def prepare(location: Location, files: ExportFiles, dry_run: bool) -> dict[str, Any] | None:
    """The destination is usable and the new names are free; returns the current pointer."""
    store = location.store
    store.check_writable(create=not dry_run)
    # The pointer first: a GET's errors say why (bucket, credentials), a HEAD's do not.
    current = store.read_pointer(files.latest_key)
    for key in (files.export_key, files.manifest_key):
        if store.exists(key):
            raise ExportRefused(
                f"{store.describe(key)} already exists and is never overwritten. Wait for the "
                "next minute, or pass --timestamp with another time (or another --dest "
                "prefix), and run the export again."
            )
    return parse_latest(current, store.describe(files.latest_key))


def export(args: argparse.Namespace) -> None:
    total = 4 if args.dry_run else 7
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = args.timestamp or now.strftime(TIMESTAMP_FORMAT)

    source = source_label(args)
    progress(f"[1/{total}] reading {MART} from {source} (read-only)")
    mart = read_mart(args)
    progress(f"      {mart.row_count} rows, {len(mart.products)} products with recommendations")

    progress(f"[2/{total}] checking the build's verdict recorded in {source}")
    check_verdict(mart, source, args.allow_failed_validation)

    progress(f"[3/{total}] checking the destination {args.dest}")
    location = open_location(args.dest, args.endpoint_url, args.max_attempts, args.timeout)
    store = location.store
    files = ExportFiles(*export_names(location.prefix, stamp))
    current = prepare(location, files, args.dry_run)
    progress(
        f"      ok; {store.describe(files.latest_key)} now names "
        f"{(current or {}).get('export_key', 'no export')}"
    )

    progress(f"[4/{total}] building the {args.format} JSON and its manifest")
    files.data = (tutorial_json if args.format == "tutorial" else rich_json)(mart.products)
    manifest = build_manifest(args, now, files.export_key, mart, files.data)
    latest = {
        "export_key": files.export_key,
        "manifest_key": files.manifest_key,
        "sha256": manifest["sha256"],
        "created_at": manifest["created_at"],
    }
    # What the loader will check, checked before anything is written.
    check_schema(manifest, "manifest", "the manifest built")
    check_schema(latest, "latest", "latest.json built")
    files.manifest, files.latest = dumps(manifest), dumps(latest)
    progress(f"      {len(files.data):,} bytes, sha256 {manifest['sha256']}")

    if args.dry_run:
        progress("dry run: nothing written. Would write, in this order:")
        progress(f"  {store.describe(files.export_key)} ({len(files.data):,} bytes)")
        for key, body in ((files.manifest_key, files.manifest), (files.latest_key, files.latest)):
            progress(f"  {store.describe(key)}:")
            progress(body.decode("UTF-8").rstrip())
        return

    write_verified(store, files)
    progress(f"done: {store.describe(files.export_key)}")


def remove_unreferenced(store: Store, keys: list[str]) -> None:
    """Files of a failed export are removed: latest.json never named them."""
    for key in reversed(keys):
        try:
            store.delete(key)
            progress(f"      removed {store.describe(key)} (the export did not complete)")
        except (StorageError, OSError) as exc:
            progress(
                f"      could not remove {store.describe(key)} ({exc}); latest.json does "
                "not name it, delete it by hand"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        export(args)
    except (ExportRefused, StorageError, ExportFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (OSError, duckdb.Error) as exc:
        print(f"error: {type(exc).__name__}: {exc}. Fix the cause and run again.", file=sys.stderr)
    else:
        return 0
    print("export refused: nothing replaced the previous export or latest.json.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
