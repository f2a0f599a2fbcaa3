"""The benchmark's inputs: generated sales files of given sizes, the real sets, --sales files."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..duckdb_files import file_reader as duckdb_reader
from . import PROJECT_DIR

DATASETS_DIR = PROJECT_DIR.parent / "shared" / "datasets"
# The generated inputs of `make bench`: two with the line and product counts of
# the real sets of issue 15 (818k lines / 23.8k products, 1.47M / 68.5k), over
# 134 categories, shaped so that the sparse script takes about as long on each,
# relative to the instacart slice in the same run, as on the real set (3.5-4x and
# ~20x): 818k with 20 lines an order, half of them from the order's category and
# no repeated lines; 1.47M with 30 lines an order (the generator's lean and
# repeats). And one 5M-line set (4 lines an order) for the 2 GB bound.
# LINES/PRODUCTS[/MEAN_ORDER_LINES/CATEGORIES[/CATEGORY_LEAN/REPEAT_RATE]];
# --sizes 10k/1k,100k/2k,1M/5k for the small ones of earlier runs.
DEFAULT_SIZES = "818k/23.8k/20/134/0.5/0,1.47M/68.5k/30/134,5M/20k"
SUFFIXES = {"k": 1_000, "m": 1_000_000}


@dataclass(frozen=True)
class Size:
    """A generated input: scripts/generate_sales.py's --lines, --products and shape."""

    lines: int
    products: int
    mean_order_lines: float | None = None  # None: the generator's defaults
    categories: int | None = None
    category_lean: float | None = None
    repeat_rate: float | None = None

    def file_name(self) -> str:
        shape = ""
        if self.mean_order_lines is not None:
            shape = f"_x{self.mean_order_lines:g}_c{self.categories}"
        if self.category_lean is not None:
            shape += f"_l{self.category_lean:g}_r{self.repeat_rate:g}"
        return f"sales_{self.lines}_{self.products}{shape}.parquet"

    def generator_args(self) -> list[str]:
        args = [f"--lines={self.lines}", f"--products={self.products}"]
        if self.mean_order_lines is not None:
            args += [f"--mean-order-lines={self.mean_order_lines:g}"]
            args += [f"--categories={self.categories}"]
        if self.category_lean is not None:
            args += [f"--category-lean={self.category_lean:g}"]
            args += [f"--repeat-rate={self.repeat_rate:g}"]
        return args


def parse_count(text: str) -> int:
    """'818k' -> 818000, '1.47M' -> 1470000, '23.8k' -> 23800; ValueError if not a number."""
    text = text.strip().lower()
    scale = SUFFIXES.get(text[-1:], 1)
    return round(float(text.rstrip("km")) * scale)


def parse_size(text: str) -> Size:
    parts = text.split("/")
    if len(parts) not in (2, 4, 6):
        raise argparse.ArgumentTypeError(
            f"size {text!r} must be LINES/PRODUCTS, optionally followed by "
            "/MEAN_ORDER_LINES/CATEGORIES and /CATEGORY_LEAN/REPEAT_RATE, "
            "e.g. 1M/5k, 1.47M/68.5k/30/134 or 818k/23.8k/20/134/0.5/0"
        )
    try:
        lines, products = parse_count(parts[0]), parse_count(parts[1])
        shape = [float(parts[2]), int(parts[3])] if len(parts) > 2 else []
        shape += [float(parts[4]), float(parts[5])] if len(parts) > 4 else []
        return Size(lines, products, *shape)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: every part must be a number") from None


def generated_input(data_dir: Path, size: Size) -> Path:
    path = data_dir / "inputs" / size.file_name()
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        partial = path.with_suffix(".partial.parquet")
        subprocess.run(
            [
                sys.executable,
                str(PROJECT_DIR / "scripts" / "generate_sales.py"),
                *size.generator_args(),
                f"--output={partial}",
            ],
            check=True,
        )
        partial.rename(path)
    return path


def find_inputs(data_dir: Path, sizes: list[Size], datasets: bool, sales: list[Path]) -> list[Path]:
    """The generated sizes (cached in data_dir), the real sets if datasets, then sales."""
    found = [generated_input(data_dir, size) for size in sizes]
    if datasets and DATASETS_DIR.is_dir():
        found += sorted(DATASETS_DIR.glob("*/sales.csv"))
    for path in sales:
        if not path.is_file():
            raise FileNotFoundError(f"--sales {path} does not exist; give a CSV or Parquet file")
        found.append(path.resolve())
    return found


def count_lines(sales: Path) -> int:
    return duckdb.sql(f"select count(*) from {duckdb_reader(sales)}").fetchall()[0][0]


def tutorial_memory_needed(sales: Path) -> tuple[int, int, int]:
    """(bytes the tutorial needs, orders, products), estimated from its dense arrays."""
    reader = duckdb_reader(sales)
    orders, products = duckdb.sql(
        f"select count(distinct order_id), count(distinct product_id) from {reader}"
    ).fetchall()[0]
    # pivot_table's orders x products float64 table exists about three times
    # at its peak (unstack, fillna, drop); then C, its cosine and a copy.
    needed = 3 * orders * products * 8 + 4 * products * products * 8
    return needed, orders, products
