"""What scripts/benchmark.py is made of, one job a module (the script parses and runs).

- inputs: the inputs (generated sizes, the real sets, --sales files) and what the
  tutorial would need of memory on one.
- methods: the tutorial and sparse pipelines that run in `--child` processes.
- measure: running a method in a subprocess, timed, with its tree's peak RSS.
- dbt_runs: the dbt builds (DuckDB and Spark) and what their logs and
  run_results.json say.
- parity: comparing a method's top-k with the reference's.
- report: the rows, notes and machine line of the BENCHMARKS.md section.

scripts/bench_engine.py and scripts/bench_huge_orders.py take their shared parts
from here too.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[3]
