"""What the scripts in scripts/ share: one small package instead of copies.

- duckdb_files: the DuckDB file a command reads (the --duckdb default, opening it
  read-only with a clear error) and the DuckDB reader of a sales/names file.
- verdict: the build's verdict, read from the database it built (build_runs,
  build_run_results) or from an export's manifest; one rule for export, loader
  and report.
- storage: where exports live, a local folder or s3://bucket/prefix/, with the
  conditional writes and checked reads the hand-off relies on.
- export_format: file names and the JSON schemas of the export (the contract
  between scripts/export.py and scripts/load_postgres.py).
- moto_server: a local S3 server process (serve_demo, tests).
- scratch_postgres: a throw-away PostgreSQL server (serve_demo, tests, latency).
- bench: what scripts/benchmark.py is made of (inputs, the child pipelines, measuring,
  the dbt runs, parity, the report); bench_engine and bench_huge_orders use parts.

The scripts run as `python scripts/<name>.py`, which puts scripts/ on sys.path, so
they import this package as `recommender_io`; pytest does the same (pyproject.toml).
"""
