"""Generate realistic, reproducible sales lines for the recommender.

The output has the columns the pipeline needs (``order_id``, ``product_id``,
``category``) plus ``product_name``. It carries planted structure so the
recommendations have something to find: each order leans to one category,
product popularity is skewed (Zipf-like), and some lines repeat within an
order. The same ``--seed`` always gives the same file, at any size, so this is
also the benchmark's generator.

Examples:
    python scripts/generate_sales.py --lines 3000 --products 200 --output seeds/raw_sales.csv
    python scripts/generate_sales.py --lines 1000000 --products 5000 --output /tmp/sales_1m.parquet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np

CATEGORY_ITEMS: dict[str, list[str]] = {
    "dairy": ["Milk", "Greek Yogurt", "Butter", "Cheddar", "Cream Cheese", "Kefir"],
    "bakery": ["Sourdough", "Bagels", "Croissants", "Rye Bread", "Muffins", "Baguette"],
    "produce": ["Bananas", "Avocados", "Spinach", "Tomatoes", "Apples", "Carrots"],
    "meat": ["Chicken Breast", "Ground Beef", "Bacon", "Pork Chops", "Salami", "Turkey"],
    "seafood": ["Salmon", "Shrimp", "Tuna Steak", "Cod", "Mussels", "Crab Sticks"],
    "beverages": ["Orange Juice", "Cola", "Sparkling Water", "Iced Tea", "Lemonade"],
    "coffee and tea": ["Espresso Beans", "Green Tea", "Ground Coffee", "Chai", "Decaf"],
    "snacks": ["Potato Chips", "Pretzels", "Trail Mix", "Popcorn", "Rice Cakes"],
    "frozen": ["Frozen Pizza", "Ice Cream", "Frozen Peas", "Fish Fingers", "Waffles"],
    "pantry": ["Pasta", "Rice", "Olive Oil", "Tomato Sauce", "Lentils", "Flour"],
    "household": ["Dish Soap", "Paper Towels", "Sponges", "Trash Bags", "Detergent"],
    "personal care": ["Shampoo", "Toothpaste", "Deodorant", "Hand Soap", "Razors"],
    "baby": ["Diapers", "Baby Wipes", "Baby Food", "Formula", "Teething Rings"],
    "pet": ["Dog Food", "Cat Litter", "Cat Food", "Dog Treats", "Bird Seed"],
}
BRANDS = ["Organic", "Classic", "Family", "Premium", "Everyday", "Farm", "Fresh", "Golden"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=3000, help="sales lines to generate (about)")
    parser.add_argument("--products", type=int, default=200, help="products in the catalogue")
    parser.add_argument("--categories", type=int, default=12, help="product categories")
    parser.add_argument("--mean-order-lines", type=float, default=4.0, help="mean lines per order")
    parser.add_argument(
        "--category-lean",
        type=float,
        default=0.8,
        help="probability that a line comes from the order's main category (0 to 1)",
    )
    parser.add_argument(
        "--repeat-rate", type=float, default=0.05, help="probability that a line is repeated"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same file)")
    parser.add_argument("--output", type=Path, required=True, help="output file, .csv or .parquet")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.products < 2 or args.categories < 1:
        parser.error("--lines must be >= 1, --products >= 2 and --categories >= 1")
    if args.categories > args.products:
        parser.error("--categories cannot exceed --products: every category needs a product")
    if not 0.0 <= args.category_lean <= 1.0 or not 0.0 <= args.repeat_rate < 1.0:
        parser.error("--category-lean must be in [0, 1] and --repeat-rate in [0, 1)")
    if args.mean_order_lines < 1.0:
        parser.error("--mean-order-lines must be >= 1")
    if args.output.suffix not in {".csv", ".parquet"}:
        parser.error(f"--output must end in .csv or .parquet, got {args.output}")
    return args


def category_names(count: int) -> list[str]:
    """Named categories first, then numbered ones for very large catalogues."""
    named = list(CATEGORY_ITEMS)
    return named[:count] + [f"category {i:03d}" for i in range(len(named) + 1, count + 1)]


def build_catalogue(
    rng: np.random.Generator, products: int, categories: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (product_id, category index, product_name) arrays, one entry per product."""
    # Every category gets at least one product; the rest are spread unevenly.
    category_of = np.concatenate(
        [np.arange(categories), rng.integers(0, categories, products - categories)]
    )
    category_of.sort(kind="stable")
    width = max(5, len(str(products)))
    # Zero-padded ids keep the "leading zeros are data" case in every sample.
    product_ids = np.array([f"{i:0{width}d}" for i in range(1, products + 1)], dtype=object)
    names = category_names(categories)
    product_names = np.empty(products, dtype=object)
    for i, cat in enumerate(category_of):
        items = CATEGORY_ITEMS.get(names[cat], ["Item"])
        brand = BRANDS[rng.integers(len(BRANDS))]
        product_names[i] = f"{brand} {items[rng.integers(len(items))]} {i + 1}"
    return product_ids, category_of, product_names


def generate(args: argparse.Namespace) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(args.seed)
    product_ids, category_of, product_names = build_catalogue(rng, args.products, args.categories)
    names = np.array(category_names(args.categories), dtype=object)

    # Skewed popularity: a few best sellers, a long tail (Zipf-like weights).
    popularity = 1.0 / np.arange(1, args.products + 1) ** 0.9
    rng.shuffle(popularity)
    members = [np.flatnonzero(category_of == c) for c in range(args.categories)]
    weights = [popularity[m] / popularity[m].sum() for m in members]
    category_weight = np.array([popularity[m].sum() for m in members])
    category_weight /= category_weight.sum()

    # Order sizes: 1 + Poisson, so single-line orders exist but are a minority.
    unique_lines = args.lines / (1.0 + args.repeat_rate)
    n_orders = max(1, round(unique_lines / args.mean_order_lines))
    sizes = 1 + rng.poisson(args.mean_order_lines - 1.0, n_orders)
    line_order = np.repeat(np.arange(n_orders), sizes)
    n_lines = line_order.size

    main_category = rng.choice(args.categories, size=n_orders, p=category_weight)
    line_category = main_category[line_order]
    strays = rng.random(n_lines) >= args.category_lean
    line_category[strays] = rng.choice(args.categories, size=int(strays.sum()), p=category_weight)

    line_product = np.empty(n_lines, dtype=np.int64)
    for c in range(args.categories):
        at = np.flatnonzero(line_category == c)
        line_product[at] = rng.choice(members[c], size=at.size, p=weights[c])

    repeats = np.flatnonzero(rng.random(n_lines) < args.repeat_rate)
    line_order = np.concatenate([line_order, line_order[repeats]])
    line_product = np.concatenate([line_product, line_product[repeats]])
    keep = np.argsort(line_order, kind="stable")
    line_order, line_product = line_order[keep], line_product[keep]

    width = len(str(n_orders))
    order_ids = np.char.add("o", np.char.zfill(np.arange(1, n_orders + 1).astype(str), width))
    return {
        "order_id": order_ids[line_order],
        "product_id": product_ids[line_product].astype(str),
        "category": names[category_of[line_product]].astype(str),
        "product_name": product_names[line_product].astype(str),
    }


def write(columns: dict[str, np.ndarray], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("sales", {name: values for name, values in columns.items()})
    target = str(output).replace("'", "''")
    fmt = "(format parquet)" if output.suffix == ".parquet" else "(header, delimiter ',')"
    con.execute(f"copy (select * from sales) to '{target}' {fmt}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    columns = generate(args)
    write(columns, args.output)
    print(
        f"wrote {columns['order_id'].size:,} sales lines, "
        f"{np.unique(columns['order_id']).size:,} orders to {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
