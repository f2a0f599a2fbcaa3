"""What the tests need from outside the venv, and the one place that knows how to find it.

The tests ask through conftest.require_component(name); .ci/run asks this file
(with the system python3, before any venv exists) which Debian packages to
install, so both find a component the same way:

    python3 tests/python/components.py                 # each: where it is, or how to get it
    python3 tests/python/components.py --apt-packages  # the Debian packages of the missing ones

Standard library only: .ci/run runs it before `make install`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The real datasets live beside the project, never in it (their README says why).
DATASETS_ENV = "RECOMMENDER_DATASETS_DIR"
JAVA_MIN_VERSION = 17  # pyspark 4


def datasets_dir() -> Path:
    """$RECOMMENDER_DATASETS_DIR, else ../shared/datasets from the project root."""
    return Path(os.environ.get(DATASETS_ENV) or PROJECT_DIR.parent / "shared" / "datasets")


@dataclass(frozen=True)
class Lookup:
    """Where a component was found (path), or why not (problem)."""

    path: Path | None
    problem: str = ""


@dataclass(frozen=True)
class Component:
    name: str
    needed_for: str
    how_to_get: str
    locate: Callable[[], Lookup]
    apt_package: str | None = None  # what .ci/run installs when it is missing


def on_path(*names: str) -> Lookup:
    for name in names:
        found = shutil.which(name)
        if found:
            return Lookup(Path(found))
    return Lookup(None, f"no {' or '.join(names)} on PATH")


def locate_chromium() -> Lookup:
    if os.environ.get("CHROMIUM"):
        path = Path(os.environ["CHROMIUM"])
        return Lookup(path) if os.access(path, os.X_OK) else Lookup(None, f"$CHROMIUM={path}")
    return on_path("chromium", "chromium-browser")


def locate_postgresql() -> Lookup:
    # The same search the server fixture and `make serve-demo` use:
    # recommender_io/scratch_postgres.py's (standard library only, loaded by path so that
    # .ci/run can ask before anything is installed).
    scratch = sys.modules.get("recommender_io.scratch_postgres")
    if scratch is None:
        spec = importlib.util.spec_from_file_location(
            "recommender_io_scratch_postgres",
            PROJECT_DIR / "scripts" / "recommender_io" / "scratch_postgres.py",
        )
        assert spec and spec.loader
        scratch = importlib.util.module_from_spec(spec)
        sys.modules["recommender_io_scratch_postgres"] = scratch
        spec.loader.exec_module(scratch)
    try:
        return Lookup(scratch.find_bindir())
    except scratch.ScratchPostgresError:
        searched = "$PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin"
        return Lookup(None, f"no initdb and pg_ctl in {searched}")


def locate_java() -> Lookup:
    # What pyspark starts: $JAVA_HOME/bin/java, else `java` on PATH.
    if os.environ.get("JAVA_HOME"):
        java = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if not os.access(java, os.X_OK):
            return Lookup(None, f"$JAVA_HOME/bin/java ({java}) is not executable")
    else:
        found = on_path("java")
        if found.path is None:
            return found
        java = found.path
    try:
        result = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Lookup(None, f"`{java} -version` failed: {error}")
    # "17.0.15", or "1.8.0_392" for Java 8
    match = re.search(r'version "(?:1\.)?(\d+)', result.stderr + result.stdout)
    if not match:
        return Lookup(None, f"cannot read the version of {java}")
    if int(match.group(1)) < JAVA_MIN_VERSION:
        return Lookup(None, f"{java} is Java {match.group(1)}, Spark needs {JAVA_MIN_VERSION}+")
    return Lookup(java)


def locate_spark_extras() -> Lookup:
    # The optional Python packages of `dbt build --target spark` (requirements-spark.txt),
    # in the interpreter running the tests (the venv's); the system python3 that .ci/run
    # asks has none: it installs them with `make install-spark` before `make test`.
    for module in ("pyspark", "dbt.adapters.spark"):
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            return Lookup(None, f"no {module} in {sys.executable}")
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.origin is not None
    return Lookup(Path(spec.origin).parent)


def locate_dataset(name: str) -> Callable[[], Lookup]:
    def locate() -> Lookup:
        path = datasets_dir() / name / "sales.csv"
        return Lookup(path) if path.is_file() else Lookup(None, f"no {path}")

    return locate


DATASETS_HINT = (
    "The real datasets are not in the repository (../shared/datasets/README.md says why): "
    f"put them in ../shared/datasets/ beside the project, or set {DATASETS_ENV} to their folder."
)

COMPONENTS = {
    component.name: component
    for component in [
        Component(
            "chromium",
            "the report's headless-browser check",
            "`apt-get install chromium` (.ci/run does), or set CHROMIUM to the browser",
            locate_chromium,
            apt_package="chromium",
        ),
        Component(
            "postgresql",
            "the serving tests (a real PostgreSQL server)",
            "`apt-get install postgresql` (.ci/run does), or set PG_BINDIR to the folder "
            "holding initdb and pg_ctl",
            locate_postgresql,
            apt_package="postgresql",
        ),
        Component(
            "java",
            "the Spark tests (a local Spark session)",
            f"`apt-get install openjdk-{JAVA_MIN_VERSION}-jre-headless` (.ci/run does), "
            "or set JAVA_HOME",
            locate_java,
            apt_package=f"openjdk-{JAVA_MIN_VERSION}-jre-headless",
        ),
        Component(
            "spark_extras",
            "the Spark tests (dbt-spark and pyspark, tests/python/test_spark.py)",
            "`make install-spark` (.ci/run does; requirements-spark.txt)",
            locate_spark_extras,
        ),
        Component(
            "instacart_slice",
            "the real-data checks (tests/python/test_real_data.py)",
            DATASETS_HINT,
            locate_dataset("instacart_slice"),
        ),
    ]
}


@cache
def lookup(name: str) -> Lookup:
    """Find one component (cached: the environment does not change during a run)."""
    if name not in COMPONENTS:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")
    return COMPONENTS[name].locate()


def missing_message(name: str) -> str:
    component = COMPONENTS[name]
    return (
        f"{name} is missing ({lookup(name).problem}), needed for {component.needed_for}. "
        f"To get it: {component.how_to_get.rstrip('.')}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--apt-packages",
        action="store_true",
        help="print the Debian packages of the missing components, one a line",
    )
    args = parser.parse_args(argv)
    for name, component in COMPONENTS.items():
        found = lookup(name)
        if args.apt_packages:
            if found.path is None and component.apt_package:
                print(component.apt_package)
        elif found.path is not None:
            print(f"{name}: {found.path}")
        else:
            print(f"{name}: MISSING. {missing_message(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
