"""Export product_recommendations as JSON to a local folder or S3: verified, never partial.

Reads the table from the DuckDB file dbt built (read-only) and writes, under a
new timestamped name that is never overwritten:

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
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
from recommender_io.duckdb_files import (
    DuckDBFileError,
    add_duckdb_argument,
    open_read_only,
    table_exists,
)
from recommender_io.verdict import OVERRIDE_FLAG, Verdict, read_verdict, refusal

PROJECT_DIR = Path(__file__).resolve().parents[1]
MART = "product_recommendations"
VALIDATION_TABLE = "recommendation_validation_overall"
FORMATS = ("tutorial", "rich")
TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M"
LATEST_NAME = "latest.json"
SEPARATOR = ";"

T = TypeVar("T")


class ExportRefused(Exception):
    """A reason not to export; the message says what is wrong and what to do."""


class VerificationMismatch(Exception):
    """What was read back is not what was written."""


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


def read_mart(duckdb_path: Path) -> MartData:
    try:
        con = open_read_only(duckdb_path)
    except DuckDBFileError as exc:
        raise ExportRefused(str(exc)) from exc
    with con:
        if not table_exists(con, MART):
            raise ExportRefused(
                f"table {MART} is missing from {duckdb_path}. Run `make run` (dbt build) "
                "to create it, or pass the right file with --duckdb."
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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=4, ensure_ascii=False) + "\n").encode("UTF-8")


# --------------------------------------------------------------- destinations


class Destination(Protocol):
    transient: tuple

    def describe(self, key: str) -> str: ...

    def explain(self, exc: Exception, action: str, key: str) -> ExportRefused: ...

    def preflight(self, new_keys: list[str]) -> dict[str, Any] | None:
        """Check it is usable and the keys are free; return the current latest.json."""

    def put_new(self, key: str, data: bytes) -> None:
        """Write data under key; refuse if the key exists."""

    def read(self, key: str) -> bytes: ...

    def put_pointer(self, key: str, data: bytes) -> None:
        """Replace latest.json, unless another export moved it since preflight."""

    def delete(self, key: str) -> None: ...


def with_retries(action: Callable[[], T], attempts: int, what: str, transient: tuple) -> T:
    """Run action, retrying transient errors and read-back mismatches with backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (*transient, VerificationMismatch) as exc:
            if attempt == attempts:
                raise
            delay = min(0.5 * 2 ** (attempt - 1), 8.0)
            progress(f"      {what}: {type(exc).__name__}, retrying in {delay:.1f} s")
            time.sleep(delay)
    raise AssertionError("unreachable")


class LocalFolder:
    """A folder on this machine: exclusive hard links for new files, rename for latest."""

    transient: tuple = ()

    def __init__(self, folder: Path, dry_run: bool) -> None:
        self.folder = folder
        self.dry_run = dry_run
        self.latest_before: bytes | None = None

    def describe(self, key: str) -> str:
        return str(self.folder / key)

    def explain(self, exc: Exception, action: str, key: str) -> ExportRefused:
        return ExportRefused(f"cannot {action} {self.describe(key)}: {exc}")

    def preflight(self, new_keys: list[str]) -> dict[str, Any] | None:
        existing = self.folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ExportRefused(
                f"cannot write to {self.folder} ({existing} is not a writable folder). "
                "Choose another --dest or fix the folder's permissions."
            )
        if not self.dry_run:
            self.folder.mkdir(parents=True, exist_ok=True)
        for key in new_keys:
            if (self.folder / key).exists():
                raise ExportRefused(key_exists_message(self.describe(key)))
        try:
            self.latest_before = (self.folder / LATEST_NAME).read_bytes()
        except FileNotFoundError:
            return None
        return parse_latest(self.latest_before, self.describe(LATEST_NAME))

    def _write_temp(self, key: str, data: bytes) -> Path:
        temp = self.folder / f".{key}.{os.getpid()}.tmp"
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def _sync_folder(self) -> None:
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def put_new(self, key: str, data: bytes) -> None:
        temp = self._write_temp(key, data)
        try:
            # A hard link never replaces an existing file, and appears whole.
            os.link(temp, self.folder / key)
        except FileExistsError as exc:
            raise ExportRefused(key_exists_message(self.describe(key))) from exc
        finally:
            temp.unlink(missing_ok=True)
        self._sync_folder()

    def read(self, key: str) -> bytes:
        return (self.folder / key).read_bytes()

    def put_pointer(self, key: str, data: bytes) -> None:
        target = self.folder / key
        current = target.read_bytes() if target.exists() else None
        if current != self.latest_before:
            raise ExportRefused(pointer_moved_message(self.describe(key)))
        temp = self._write_temp(key, data)
        os.replace(temp, target)
        self._sync_folder()

    def delete(self, key: str) -> None:
        (self.folder / key).unlink(missing_ok=True)


class S3Bucket:
    """An S3 (or S3-compatible) bucket through boto3: conditional puts, SHA-256 checked."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        max_attempts: int,
        timeout: float,
    ) -> None:
        import boto3
        import botocore.exceptions as boto_errors
        from botocore.config import Config

        self.errors = boto_errors
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.max_attempts = max_attempts
        self.transient = (
            boto_errors.EndpointConnectionError,
            boto_errors.ConnectTimeoutError,
            boto_errors.ReadTimeoutError,
            boto_errors.ConnectionClosedError,
            boto_errors.ResponseStreamingError,
        )
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
        )
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, config=config)
        self.latest_etag: str | None = None
        self.preflight_free: set[str] = set()

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def explain(self, exc: Exception, action: str, key: str) -> ExportRefused:
        """Turn a boto error into what it means for the user; never echoes credentials."""
        where = self.describe(key)
        errors = self.errors
        if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
            return ExportRefused(
                "no usable AWS credentials found. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where an IAM role applies)."
            )
        if isinstance(exc, self.transient):
            endpoint = self.endpoint_url or "the AWS S3 endpoint"
            return ExportRefused(
                f"cannot reach {endpoint} to {action} {where} after {self.max_attempts} "
                f"attempts ({type(exc).__name__}). Check the network, that the server is "
                "running, and --endpoint-url / AWS_ENDPOINT_URL; then run the export again."
            )
        if isinstance(exc, errors.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return ExportRefused(
                    f"bucket {self.bucket!r} does not exist. Create it (aws s3 mb "
                    f"s3://{self.bucket}) or fix --dest / RECOMMENDER_EXPORT_DEST."
                )
            if code in {
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "InvalidToken",
                "ExpiredToken",
                "TokenRefreshRequired",
                "InvalidClientTokenId",
            }:
                return ExportRefused(
                    f"S3 rejected the credentials ({code}) when trying to {action} {where}. "
                    "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or "
                    "AWS_PROFILE."
                )
            if code in {"AccessDenied", "403", "AllAccessDisabled"} or status == 403:
                return ExportRefused(
                    f"access denied to {action} {where} ({code or status}). The credentials "
                    "(or a bucket policy) must allow s3:GetObject, s3:PutObject and "
                    "s3:ListBucket on this bucket and prefix. (A wrong secret key can also "
                    "look like this on HEAD requests.)"
                )
            if code in {"PreconditionFailed", "412"}:
                return ExportRefused(key_exists_message(where))
            if (isinstance(status, int) and status >= 500) or code in {
                "SlowDown",
                "ServiceUnavailable",
                "InternalError",
                "RequestTimeout",
            }:
                return ExportRefused(
                    f"S3 kept failing to {action} {where} ({code or status}) after "
                    f"{self.max_attempts} attempts: it is unavailable or throttling. Try again "
                    "later (or with more --max-attempts)."
                )
            if code == "InvalidBucketName":
                return ExportRefused(f"{self.bucket!r} is not a valid bucket name; fix --dest.")
            message = error.get("Message", "")
            return ExportRefused(
                f"S3 refused to {action} {where}: {code} {message}. Fix the cause and run "
                "the export again."
            )
        return ExportRefused(f"S3 failed to {action} {where}: {type(exc).__name__}: {exc}")

    def _is_missing(self, exc: Exception, codes: set[str]) -> bool:
        return (
            isinstance(exc, self.errors.ClientError)
            and str(exc.response.get("Error", {}).get("Code", "")) in codes
        )

    def preflight(self, new_keys: list[str]) -> dict[str, Any] | None:
        # GET latest.json first: unlike HEAD, its errors say *why* (bucket, credentials).
        latest_key = new_keys[-1]
        current: dict[str, Any] | None = None
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=latest_key)
            body = response["Body"].read()
            self.latest_etag = response["ETag"]
            current = parse_latest(body, self.describe(latest_key))
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            if not self._is_missing(exc, {"NoSuchKey"}):
                raise self.explain(exc, "read", latest_key) from exc
        for key in new_keys[:-1]:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
                if self._is_missing(exc, {"404", "NoSuchKey", "NotFound"}):
                    self.preflight_free.add(key)
                    continue
                raise self.explain(exc, "check", key) from exc
            raise ExportRefused(key_exists_message(self.describe(key)))
        return current

    def put_new(self, key: str, data: bytes) -> None:
        try:
            # IfNoneMatch: the server refuses if the key exists (conditional write), even
            # if another export created it after preflight. ChecksumAlgorithm: boto3 sends
            # the body's SHA-256 and S3 rejects a body that arrives different.
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json; charset=utf-8",
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            # A retried PUT whose first attempt landed also gets 412: it is ours if the
            # content is. Otherwise another export took the key meanwhile.
            if (
                self._is_missing(exc, {"PreconditionFailed"})
                and key in self.preflight_free
                and self._same_content(key, data)
            ):
                return
            raise self.explain(exc, "write", key) from exc

    def _same_content(self, key: str, data: bytes) -> bool:
        try:
            return sha256_hex(self.read(key)) == sha256_hex(data)
        except (ExportRefused, VerificationMismatch, *self.transient):
            return False

    def read(self, key: str) -> bytes:
        """The object's bytes, after checking them against the SHA-256 S3 stored.

        Transient errors are raised as they are, for verify() to retry.
        """
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.transient:
            raise
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            raise self.explain(exc, "read back", key) from exc
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if stored != digest:
                raise VerificationMismatch(f"{key}: S3 stored SHA-256 {stored}, body has {digest}")
        return body

    def put_pointer(self, key: str, data: bytes) -> None:
        # Compare-and-swap on the ETag seen at preflight: never clobber a newer pointer.
        condition = {"IfMatch": self.latest_etag} if self.latest_etag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json; charset=utf-8",
                ChecksumAlgorithm="SHA256",
                **condition,
            )
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            if self._is_missing(exc, {"PreconditionFailed", "ConditionalRequestConflict"}):
                if self._same_content(key, data):
                    return
                raise ExportRefused(pointer_moved_message(self.describe(key))) from exc
            raise self.explain(exc, "write", key) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            raise self.explain(exc, "delete", key) from exc


def key_exists_message(where: str) -> str:
    return (
        f"{where} already exists and is never overwritten. Wait for the next minute, or pass "
        "--timestamp with another time (or another --dest prefix), and run the export again."
    )


def pointer_moved_message(where: str) -> str:
    return (
        f"{where} was changed by another export while this one ran; it was left as the other "
        "export wrote it. Check which export is newest and run this one again if needed."
    )


def parse_latest(body: bytes, where: str) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        progress(f"      warning: {where} is not valid JSON; it will be replaced")
        return None
    return document if isinstance(document, dict) else None


def parse_destination(
    dest: str, endpoint_url: str | None, args: argparse.Namespace
) -> tuple[Destination, str]:
    """The destination and the key prefix the files get inside it."""
    if dest.startswith("s3://"):
        bucket, _, prefix = dest[len("s3://") :].partition("/")
        if not bucket:
            raise ExportRefused(f"--dest {dest!r} names no bucket; use s3://bucket/prefix/.")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return S3Bucket(bucket, endpoint_url, args.max_attempts, args.timeout), prefix
    if "://" in dest:
        raise ExportRefused(
            f"--dest {dest!r}: only a local folder or s3://bucket/prefix/ is supported."
        )
    return LocalFolder(Path(dest), args.dry_run), ""


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
        default=5,
        help="tries per S3 request and per read-back, with backoff (default: 5)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="S3 connect/read timeout in s (default: 30)"
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


def check_verdict(mart: MartData, duckdb_path: Path, allow: bool) -> None:
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
        "source_duckdb": str(args.duckdb.resolve()),
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


def write_verified(destination: Destination, files: ExportFiles, attempts: int) -> None:
    """JSON, then manifest, each read back; latest.json last. Failure leaves no new file."""
    written: list[str] = []
    try:
        for step_number, key, body in (
            (5, files.export_key, files.data),
            (6, files.manifest_key, files.manifest),
        ):
            progress(f"[{step_number}/7] writing {destination.describe(key)} and reading it back")
            destination.put_new(key, body)
            written.append(key)
            verify(destination, key, body, attempts)
            progress(f"      verified: sha256 {sha256_hex(body)}")
        progress(f"[7/7] pointing {destination.describe(files.latest_key)} at the new export")
        destination.put_pointer(files.latest_key, files.latest)
    except (ExportRefused, VerificationMismatch, OSError) as exc:
        remove_unreferenced(destination, written)
        if isinstance(exc, ExportRefused):
            raise
        raise ExportRefused(
            f"writing the export failed: {exc}. latest.json was not moved; fix the cause and "
            "run the export again."
        ) from exc
    try:
        verify(destination, files.latest_key, files.latest, attempts)
    except (ExportRefused, VerificationMismatch, OSError) as exc:
        # The pointer was written: the export it names stays (it is verified).
        raise ExportRefused(
            f"{destination.describe(files.latest_key)} was written but reading it back "
            f"failed: {exc}. The export itself is verified; check latest.json by hand."
        ) from exc


def export(args: argparse.Namespace) -> None:
    total = 4 if args.dry_run else 7
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = args.timestamp or now.strftime(TIMESTAMP_FORMAT)

    progress(f"[1/{total}] reading {MART} from {args.duckdb} (read-only)")
    mart = read_mart(args.duckdb)
    progress(f"      {mart.row_count} rows, {len(mart.products)} products with recommendations")

    progress(f"[2/{total}] checking the build's verdict recorded in {args.duckdb}")
    check_verdict(mart, args.duckdb, args.allow_failed_validation)

    progress(f"[3/{total}] checking the destination {args.dest}")
    destination, prefix = parse_destination(args.dest, args.endpoint_url, args)
    files = ExportFiles(
        export_key=f"{prefix}recommendations_{stamp}.json",
        manifest_key=f"{prefix}recommendations_{stamp}.manifest.json",
        latest_key=f"{prefix}{LATEST_NAME}",
    )
    current = destination.preflight([files.export_key, files.manifest_key, files.latest_key])
    progress(
        f"      ok; {destination.describe(files.latest_key)} now names "
        f"{(current or {}).get('export_key', 'no export')}"
    )

    progress(f"[4/{total}] building the {args.format} JSON and its manifest")
    files.data = (tutorial_json if args.format == "tutorial" else rich_json)(mart.products)
    manifest = build_manifest(args, now, files.export_key, mart, files.data)
    files.manifest = dumps(manifest)
    files.latest = dumps(
        {
            "export_key": files.export_key,
            "manifest_key": files.manifest_key,
            "sha256": manifest["sha256"],
            "created_at": manifest["created_at"],
        }
    )
    progress(f"      {len(files.data):,} bytes, sha256 {manifest['sha256']}")

    if args.dry_run:
        progress("dry run: nothing written. Would write, in this order:")
        progress(f"  {destination.describe(files.export_key)} ({len(files.data):,} bytes)")
        for key, body in ((files.manifest_key, files.manifest), (files.latest_key, files.latest)):
            progress(f"  {destination.describe(key)}:")
            progress(body.decode("UTF-8").rstrip())
        return

    write_verified(destination, files, args.max_attempts)
    progress(f"done: {destination.describe(files.export_key)}")


def verify(destination: Destination, key: str, body: bytes, attempts: int) -> None:
    """Read key back until its SHA-256 is the one written (transient errors retried)."""
    expected = sha256_hex(body)

    def check() -> None:
        got = sha256_hex(destination.read(key))
        if got != expected:
            raise VerificationMismatch(f"{key}: read back sha256 {got}, wrote {expected}")

    try:
        with_retries(check, attempts, f"verifying {key}", destination.transient)
    except destination.transient as exc:
        raise destination.explain(exc, "read back", key) from exc


def remove_unreferenced(destination: Destination, keys: list[str]) -> None:
    """Files of a failed export are removed: latest.json never named them."""
    for key in reversed(keys):
        try:
            destination.delete(key)
            progress(f"      removed {destination.describe(key)} (the export did not complete)")
        except (ExportRefused, OSError) as exc:
            progress(
                f"      could not remove {destination.describe(key)} ({exc}); latest.json does "
                "not name it, delete it by hand"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        export(args)
    except ExportRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (OSError, duckdb.Error) as exc:
        print(f"error: {type(exc).__name__}: {exc}. Fix the cause and run again.", file=sys.stderr)
    else:
        return 0
    print("export refused: nothing replaced the previous export or latest.json.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
