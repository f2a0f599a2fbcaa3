"""Where exports live: a local folder or s3://bucket/prefix/, with the writes the hand-off needs.

Both kinds of location offer the same few operations, so scripts/export.py writes and
scripts/load_postgres.py reads through one interface:

- `read(key)`: the bytes, checked (S3: against the SHA-256 the server stored);
- `exists(key)`: whether a key is taken (remembered: a retried conditional put whose
  first attempt landed is recognised as ours);
- `put_new(key, data)`: create, never replace (S3: If-None-Match; a folder: a hard
  link of a synced temp file, which fails if the name exists);
- `read_pointer(key)` then `put_pointer(key, data)`: compare-and-swap of latest.json
  (S3: If-Match on the ETag read; a folder: re-read and rename under a file lock,
  `filelock`, so two exports never both think they won);
- `delete(key)`.

Transient S3 errors (timeouts, dropped connections, throttling, 5xx) are retried by
botocore's standard retry mode; what is left is a StorageError whose message says
what is wrong and what to do, never a credential.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import filelock

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_TIMEOUT_S = 30.0
POINTER_LOCK_TIMEOUT_S = 60.0
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}
THROTTLING_ERRORS = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


class StorageError(Exception):
    """The location cannot do what was asked; the message says why and what to do."""


class NotFound(StorageError):
    """The key (or the bucket) does not exist."""


class KeyExists(StorageError):
    """put_new found the key taken: exports are never overwritten."""


class PointerMoved(StorageError):
    """Another writer replaced the pointer since read_pointer."""


class Store(Protocol):
    def describe(self, key: str) -> str: ...

    def check_writable(self, create: bool) -> None: ...

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def put_new(self, key: str, data: bytes) -> None: ...

    def read_pointer(self, key: str) -> bytes | None: ...

    def put_pointer(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class Location:
    """A parsed location: the store, and the prefix its keys get (folders: none)."""

    uri: str
    store: Store
    prefix: str = ""

    def key(self, name: str) -> str:
        """The key of `name` here; a name that already carries the prefix keeps it."""
        return name if name.startswith(self.prefix) else self.prefix + name


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/prefix -> ("bucket", "prefix/"); the prefix is empty or ends in /."""
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} names no bucket; use s3://bucket/prefix/.")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def open_location(
    uri: str,
    endpoint_url: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Location:
    """A local folder or s3://bucket/prefix/ (anything else with :// is refused)."""
    if uri.startswith("s3://"):
        bucket, prefix = split_s3_uri(uri)
        return Location(uri, S3Bucket(bucket, endpoint_url, max_attempts, timeout), prefix)
    if "://" in uri:
        raise StorageError(f"{uri!r}: only a local folder or s3://bucket/prefix/ is supported.")
    return Location(uri, LocalFolder(Path(uri)))


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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- a local folder


class LocalFolder:
    """A folder on this machine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pointer_seen: dict[str, bytes | None] = {}

    def describe(self, key: str) -> str:
        return str(self.folder / key)

    def check_writable(self, create: bool) -> None:
        """Refuse early when the folder (or the nearest existing parent) is not writable."""
        existing = self.folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise StorageError(
                f"cannot write to {self.folder} ({existing} is not a writable folder). "
                "Choose another --dest or fix the folder's permissions."
            )
        if create:
            self.folder.mkdir(parents=True, exist_ok=True)

    def read(self, key: str) -> bytes:
        path = self.folder / key
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(
                f"{path} does not exist. Run `make export` first, or check --source / --export."
            ) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return (self.folder / key).exists()

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
            raise KeyExists(key_exists_message(self.describe(key))) from exc
        finally:
            temp.unlink(missing_ok=True)
        self._sync_folder()

    def _pointer_lock(self, key: str) -> filelock.FileLock:
        # Stays in the folder (a lock file removed on release could be raced): .<key>.lock
        return filelock.FileLock(self.folder / f".{key}.lock", timeout=POINTER_LOCK_TIMEOUT_S)

    def read_pointer(self, key: str) -> bytes | None:
        try:
            current: bytes | None = (self.folder / key).read_bytes()
        except FileNotFoundError:
            current = None
        self.pointer_seen[key] = current
        return current

    def put_pointer(self, key: str, data: bytes) -> None:
        target = self.folder / key
        try:
            with self._pointer_lock(key):
                current = target.read_bytes() if target.exists() else None
                if current != self.pointer_seen.get(key):
                    raise PointerMoved(pointer_moved_message(self.describe(key)))
                temp = self._write_temp(key, data)
                os.replace(temp, target)
                self._sync_folder()
        except filelock.Timeout as exc:
            raise StorageError(
                f"another export held {self.describe(key)} for more than "
                f"{POINTER_LOCK_TIMEOUT_S:.0f} s; run this one again."
            ) from exc

    def delete(self, key: str) -> None:
        (self.folder / key).unlink(missing_ok=True)


# --------------------------------------------------------------------------------- S3


def s3_client(endpoint_url: str | None, max_attempts: int, timeout: float) -> Any:
    """A boto3 S3 client with botocore's standard retries (backoff, 5xx, throttling,
    dropped connections) and the given timeouts; credentials from boto3's chain."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=timeout,
        read_timeout=timeout,
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


@dataclass
class S3Bucket:
    """An S3 (or S3-compatible) bucket: conditional puts, SHA-256 checked both ways."""

    bucket: str
    endpoint_url: str | None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT_S
    free_keys: set[str] = field(default_factory=set)
    pointer_etags: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import botocore.exceptions as errors

        self.errors = errors
        self.client = s3_client(self.endpoint_url, self.max_attempts, self.timeout)
        self.unreachable = (
            errors.EndpointConnectionError,
            errors.ConnectTimeoutError,
            errors.ReadTimeoutError,
            errors.ConnectionClosedError,
            errors.ResponseStreamingError,
        )

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_writable(self, create: bool) -> None:
        """Nothing to check before the first request: its errors say what is wrong."""

    def _code(self, exc: Exception) -> str:
        if isinstance(exc, self.errors.ClientError):
            return str(exc.response.get("Error", {}).get("Code", ""))
        return ""

    def explain(self, exc: Exception, action: str, key: str) -> StorageError:
        """What a boto error means for the user; never echoes credentials."""
        where = self.describe(key)
        errors = self.errors
        if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
            return StorageError(
                "no usable AWS credentials found. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where an IAM role applies)."
            )
        if isinstance(exc, self.unreachable):
            endpoint = self.endpoint_url or "the AWS S3 endpoint"
            return StorageError(
                f"cannot reach {endpoint} to {action} {where} after {self.max_attempts} "
                f"attempts ({type(exc).__name__}). Check the network, that the server is "
                "running, and --endpoint-url / AWS_ENDPOINT_URL; then run again."
            )
        if not isinstance(exc, errors.ClientError):
            return StorageError(f"S3 failed to {action} {where}: {type(exc).__name__}: {exc}")
        error = exc.response.get("Error", {})
        code = self._code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return NotFound(
                f"bucket {self.bucket} does not exist. Create it (`aws s3 mb "
                f"s3://{self.bucket}`) or fix --dest / --source."
            )
        if code in {"NoSuchKey", "404", "NotFound"}:
            return NotFound(
                f"{where} does not exist. Run `make export` first, or check --source / --export."
            )
        if code in CREDENTIAL_ERRORS:
            return StorageError(
                f"S3 rejected the credentials ({code}) when trying to {action} {where}. "
                "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or "
                "AWS_PROFILE."
            )
        if code in {"AccessDenied", "403", "AllAccessDisabled"} or status == 403:
            return StorageError(
                f"access denied to {action} {where} ({code or status}). The credentials "
                "(or a bucket policy) must allow s3:GetObject, s3:PutObject and "
                "s3:ListBucket on this bucket and prefix. (A wrong secret key can also "
                "look like this on HEAD requests.)"
            )
        if code in {"PreconditionFailed", "412"}:
            return KeyExists(key_exists_message(where))
        if (isinstance(status, int) and status >= 500) or code in THROTTLING_ERRORS:
            return StorageError(
                f"S3 kept failing to {action} {where} ({code or status}) after "
                f"{self.max_attempts} attempts: it is unavailable or throttling. Try again "
                "later (or with more --max-attempts)."
            )
        if code == "InvalidBucketName":
            return StorageError(f"{self.bucket!r} is not a valid bucket name; fix the location.")
        return StorageError(
            f"S3 refused to {action} {where}: {code} {error.get('Message', '')}. Fix the cause "
            "and run again."
        )

    def read(self, key: str) -> bytes:
        """The object's bytes, after checking them against the SHA-256 S3 stored."""
        try:
            # A GET (not HEAD first): its errors say why, e.g. NoSuchBucket.
            response = self.client.get_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            body = response["Body"].read()
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            raise self.explain(exc, "read", key) from exc
        stored = response.get("ChecksumSHA256")
        if stored and "-" not in stored:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            if stored != digest:
                raise StorageError(
                    f"{self.describe(key)} read back different from what S3 stored (SHA-256 "
                    f"{stored}, the body has {digest}); run again."
                )
        return body

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            if self._code(exc) in {"404", "NoSuchKey", "NotFound"}:
                self.free_keys.add(key)
                return False
            raise self.explain(exc, "check", key) from exc
        return True

    def _same_content(self, key: str, data: bytes) -> bool:
        try:
            return sha256_hex(self.read(key)) == sha256_hex(data)
        except StorageError:
            return False

    def put_new(self, key: str, data: bytes) -> None:
        try:
            # IfNoneMatch: the server refuses if the key exists (conditional write), even
            # if another writer created it after our check. ChecksumAlgorithm: boto3 sends
            # the body's SHA-256 and S3 rejects a body that arrives different.
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=JSON_CONTENT_TYPE,
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            # A retried PUT whose first attempt landed also gets 412: it is ours if the
            # content is. Otherwise another writer took the key meanwhile.
            if (
                self._code(exc) == "PreconditionFailed"
                and key in self.free_keys
                and self._same_content(key, data)
            ):
                return
            raise self.explain(exc, "write", key) from exc

    def read_pointer(self, key: str) -> bytes | None:
        # GET, not HEAD: its errors say *why* (bucket, credentials).
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            if self._code(exc) == "NoSuchKey":
                self.pointer_etags[key] = None
                return None
            raise self.explain(exc, "read", key) from exc
        self.pointer_etags[key] = response["ETag"]
        return response["Body"].read()

    def put_pointer(self, key: str, data: bytes) -> None:
        # Compare-and-swap on the ETag read_pointer saw: never clobber a newer pointer.
        etag = self.pointer_etags.get(key)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=JSON_CONTENT_TYPE,
                ChecksumAlgorithm="SHA256",
                **condition,
            )
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            if self._code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
                if self._same_content(key, data):
                    return  # a retry of ours that had landed
                raise PointerMoved(pointer_moved_message(self.describe(key))) from exc
            raise self.explain(exc, "write", key) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (self.errors.BotoCoreError, self.errors.ClientError) as exc:
            raise self.explain(exc, "delete", key) from exc
