"""The export format: file names, JSON schemas, and reading an export back, verified.

scripts/export.py writes, under a location (recommender_io.storage), three files:
`recommendations_<YYYY-MM-DD_HH-MM>.json`, its `.manifest.json`, and `latest.json`
pointing at the newest verified pair. Their shapes are JSON schemas in schemas/ (the
contract, docs/export.md); export.py checks the manifest and pointer it writes
against them, and `read_export` (scripts/load_postgres.py) checks what it reads:
checksums, sizes, counts, the schemas, then every product and rank, with messages
that name the product.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import referencing

from .storage import Location
from .verdict import Verdict

LATEST_NAME = "latest.json"
TIMESTAMP_FORMAT = "%Y-%m-%d_%H-%M"
FORMATS = ("tutorial", "rich")
SEPARATOR = ";"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
BASE_COLUMNS = ("product_id", "recommendation_rank", "recommended_product_id")
RICH_FIELDS = ("similarity", "pair_count", "product_category", "recommended_category")
RICH_KEYS = frozenset({"rank", "product_id", *RICH_FIELDS})
MAX_PROBLEMS_SHOWN = 10


class ExportFormatError(Exception):
    """An export (or what would be one) does not have the agreed shape; says what to do."""


def export_names(prefix: str, stamp: str) -> tuple[str, str, str]:
    """Keys of one export: the JSON, its manifest, and the pointer."""
    return (
        f"{prefix}recommendations_{stamp}.json",
        f"{prefix}recommendations_{stamp}.manifest.json",
        f"{prefix}{LATEST_NAME}",
    )


def manifest_key_for(export_key: str) -> str:
    if not export_key.endswith(".json"):
        raise ExportFormatError(
            f"export {export_key} does not end in .json; name the export JSON file."
        )
    return export_key[: -len(".json")] + ".manifest.json"


def dumps(document: Any) -> bytes:
    """How the manifest and latest.json are written: indented UTF-8, newline at the end."""
    return (json.dumps(document, indent=4, ensure_ascii=False) + "\n").encode("UTF-8")


# ------------------------------------------------------------------------------ schemas


@cache
def registry() -> referencing.Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], referencing.Resource.from_contents(contents)))
    return referencing.Registry().with_resources(resources)


def schema_problems(document: Any, name: str) -> list[str]:
    """Where `document` breaks schemas/<name>.schema.json (empty when it does not)."""
    schema = registry().contents(f"recommender/{name}.schema.json")
    validator = jsonschema.Draft202012Validator(schema, registry=registry())
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top level)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def check_schema(document: Any, name: str, where: str) -> None:
    problems = schema_problems(document, name)
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        raise ExportFormatError(
            f"{where} does not have the shape of schemas/{name}.schema.json: {shown}. "
            "Re-run the export."
        )


# ----------------------------------------------------------------------- reading an export


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ExportFormatError(f"key {key!r} appears twice in the same JSON object")
        seen[key] = value
    return seen


def parse_json(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExportFormatError(f"{where} is not UTF-8 ({exc}). Re-run the export.") from exc
    try:
        return json.loads(text, object_pairs_hook=reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ExportFormatError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "it is corrupt or was cut short. Re-run the export."
        ) from exc
    except ExportFormatError as exc:
        raise ExportFormatError(f"{where}: {exc}. Re-run the export.") from exc


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
    def columns(self) -> tuple[str, ...]:
        return BASE_COLUMNS + (RICH_FIELDS if self.format == "rich" else ())

    @property
    def verdict(self) -> Verdict | None:
        """The verdict of the build it was exported from, as its manifest records it."""
        return Verdict.from_manifest(self.manifest.get("build"))


def read_export(source: Location, export_name: str | None) -> Export:
    """Read and verify an export and its manifest (by default the one latest.json names).

    Raises ExportFormatError, or recommender_io.storage.StorageError when a file cannot
    be read; nothing is returned that the checks did not pass.
    """
    store = source.store
    expected_sha: str | None = None
    if export_name is None:
        latest_key = source.key(LATEST_NAME)
        latest = parse_json(store.read(latest_key), store.describe(latest_key))
        if not isinstance(latest, dict) or not isinstance(latest.get("export_key"), str):
            raise ExportFormatError(
                f"{store.describe(latest_key)} has no export_key. Re-run the export."
            )
        check_schema(latest, "latest", store.describe(latest_key))
        export_key = latest["export_key"]
        manifest_key = latest.get("manifest_key") or manifest_key_for(export_key)
        expected_sha = latest.get("sha256")
    else:
        export_key = source.key(export_name)
        manifest_key = manifest_key_for(export_key)
    location = store.describe(export_key)
    manifest_where = store.describe(manifest_key)
    manifest = parse_json(store.read(manifest_key), manifest_where)
    raw = store.read(export_key)
    sha = hashlib.sha256(raw).hexdigest()
    if not isinstance(manifest, dict):
        raise ExportFormatError(f"{manifest_where} is not a JSON object. Re-run the export.")
    for name, claimed in (("manifest", manifest.get("sha256")), ("latest.json", expected_sha)):
        if claimed is not None and claimed != sha:
            raise ExportFormatError(
                f"checksum mismatch for {location}: {name} says sha256 {claimed}, the file "
                f"hashes to {sha}. The file changed or was cut short after the export; "
                "re-run the export (nothing was loaded)."
            )
    if isinstance(manifest.get("bytes"), int) and manifest["bytes"] != len(raw):
        raise ExportFormatError(
            f"{location} is {len(raw)} bytes but its manifest says {manifest['bytes']}: it was "
            "cut short or changed after the export. Re-run the export (nothing was loaded)."
        )
    if manifest.get("sha256") is None:
        raise ExportFormatError(f"{manifest_where} has no sha256. Re-run the export.")
    described = manifest.get("export_key")
    if described and PurePosixPath(described).name != PurePosixPath(export_key).name:
        raise ExportFormatError(
            f"{manifest_where} describes {described}, not {export_key}. Re-run the export."
        )
    created_at = manifest.get("created_at")
    exported_at = None
    if created_at is not None:
        try:
            exported_at = dt.datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ExportFormatError(
                f"{manifest_where}: created_at {created_at!r} is not an ISO 8601 time. "
                "Re-run the export."
            ) from exc
    export_format = manifest.get("format")
    if export_format not in FORMATS:
        raise ExportFormatError(
            f"{manifest_where}: format {export_format!r} is not 'tutorial' or 'rich'."
        )
    data = parse_json(raw, location)
    rows, problems = rows_from_export(data, export_format, top_k_of(manifest))
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise ExportFormatError(
            f"{location} is malformed ({len(problems)} problem(s)); nothing was loaded:\n  {shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
            + "\nFix the export (re-run `make export`) and load again."
        )
    product_count = len(data)
    if product_count == 0:
        raise ExportFormatError(
            f"{location} has no products; refusing to replace the live table with an empty one."
        )
    for field_name, actual in (("row_count", len(rows)), ("product_count", product_count)):
        claimed = manifest.get(field_name)
        if claimed is not None and claimed != actual:
            raise ExportFormatError(
                f"{location} holds {actual} {field_name.replace('_count', 's')} but its manifest "
                f"says {field_name} {claimed}. Re-run the export."
            )
    check_schema(manifest, "manifest", manifest_where)
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
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        return f"{value!r} contains a control character"
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
