"""Helpers for the tests of scripts/build.py (test_file_lock, test_interrupted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT_DIR, dbt_env, query, run_command

BUILD_SCRIPT = PROJECT_DIR / "scripts" / "build.py"
# The pipeline without the validation marts and generic tests: enough to tell builds
# apart, and each dbt build costs seconds.
SELECT = ["--select", "+product_recommendations +sales_rejected", "--exclude", "test_type:generic"]


def build_command(dbt_vars: dict | None = None) -> list[str]:
    command = [sys.executable, str(BUILD_SCRIPT), *SELECT]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    return command


def run_build_script(
    workdir: Path, target: Path, dbt_vars: dict | None = None
) -> subprocess.CompletedProcess[str]:
    """scripts/build.py into target, with this test's own target/ and logs/ folders."""
    return run_command(
        build_command(dbt_vars),
        cwd=PROJECT_DIR,
        env=dbt_env(workdir, target),
    )


def recommendation_shape(db: Path) -> tuple[int, int]:
    """(highest rank, row count) of product_recommendations: tells builds apart."""
    return query(db, "select max(recommendation_rank), count(*) from product_recommendations")[0]


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.glob(f"{target.name}.*"))


def copy_database(source: Path, folder: Path) -> Path:
    """A good database to replace: a copy of the session's sample build."""
    target = folder / "recommender.duckdb"
    shutil.copyfile(source, target)
    return target
