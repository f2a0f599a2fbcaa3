"""The CI rules hold: a missing component fails a CI run, and a hung command fails its test.

Each check runs a real pytest (or the real components.py that .ci/run calls) in a
subprocess whose PATH holds nothing, so chromium and java cannot be found there.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, run_command

TESTS_DIR = Path(__file__).resolve().parent
# Each test asks as the real ones do; one skips for another reason; one is an expected failure.
PROBES = """
import pytest
from conftest import require_component


def test_needs_chromium():
    require_component("chromium")


def test_needs_java():
    require_component("java")


def test_skips_for_its_own_reason():
    pytest.skip("not today")


@pytest.mark.xfail(strict=True, reason="a known failure")
def test_known_failure():
    assert False
"""


def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment minus CI and anything that points at chromium or java; PATH empty."""
    empty_bin = tmp_path / "empty_bin"
    empty_bin.mkdir(exist_ok=True)
    hidden = {"CI", "CHROMIUM", "JAVA_HOME", "PATH", "PYTHONPATH", "PYTEST_ADDOPTS"}
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    return {**env, "PATH": str(empty_bin), **extra}


def run_probes(tmp_path: Path, *args: str, **env: str) -> tuple[str, int]:
    """pytest on PROBES with our conftest as plugin; returns (its output, exit code)."""
    folder = tmp_path / "probes"
    folder.mkdir(exist_ok=True)
    (folder / "test_probes.py").write_text(textwrap.dedent(PROBES))
    (folder / "pytest.ini").write_text("[pytest]\naddopts = -ra -p no:cacheprovider\n")
    result = run_command(
        [sys.executable, "-m", "pytest", "-p", "conftest", *args, str(folder)],
        cwd=folder,
        # conftest imports the scripts' package (pyproject: pythonpath = ["scripts"]).
        env=bare_env(
            tmp_path, PYTHONPATH=f"{TESTS_DIR}{os.pathsep}{PROJECT_DIR / 'scripts'}", **env
        ),
        timeout=300,
    )
    return result.stdout + result.stderr, result.returncode


def test_under_ci_a_missing_component_or_any_skip_fails_the_run(tmp_path: Path) -> None:
    output, code = run_probes(tmp_path, CI="true")
    assert code == 1, output
    assert "3 failed, 1 xfailed" in output, output
    failed = "FAILED test_probes.py::test_needs_{0} - Failed: {0} is missing ({1})"
    assert failed.format("chromium", "no chromium or chromium-browser on PATH") in output
    assert "To get it: `apt-get install chromium`" in output
    assert failed.format("java", "no java on PATH") in output
    assert "openjdk-17-jre-headless" in output
    assert "CI=true: a missing component fails" in output
    assert "skipped under CI=true, where no test may skip: not today" in output
    assert " skipped" not in output.splitlines()[-1]


def test_strict_components_switch_does_the_same_without_ci(tmp_path: Path) -> None:
    output, code = run_probes(tmp_path, "--strict-components")
    assert code == 1, output
    assert "3 failed, 1 xfailed" in output, output
    assert "--strict-components: a missing component fails" in output


def test_locally_a_missing_component_skips_saying_how_to_get_it(tmp_path: Path) -> None:
    output, code = run_probes(tmp_path)
    assert code == 0, output
    assert "3 skipped, 1 xfailed" in output, output
    assert re.search(r"SKIPPED \[1\] test_probes.py:\d+: chromium is missing", output), output
    assert "To get it: `apt-get install chromium` (.ci/run does)" in output
    assert "java is missing (no java on PATH)" in output


def test_ci_run_installs_what_the_tests_look_for(tmp_path: Path) -> None:
    # .ci/run asks components.py for the packages to install: the lookup the tests use.
    ci_run = (PROJECT_DIR / ".ci" / "run").read_text()
    assert "tests/python/components.py --apt-packages" in ci_run
    # ... and installs the Spark extras (components.py's spark_extras) before `make test`.
    assert ci_run.index("make install-spark") < ci_run.index("make test")
    script = str(TESTS_DIR / "components.py")
    hidden = run_command([sys.executable, script, "--apt-packages"], env=bare_env(tmp_path))
    assert hidden.returncode == 0, hidden.stderr
    assert {"chromium", "openjdk-17-jre-headless"} <= set(hidden.stdout.split()), hidden.stdout
    # With the machine's own PATH, what it finds is what the tests find.
    import components

    listed = run_command([sys.executable, script], env={**os.environ})
    for name in components.COMPONENTS:
        found = components.lookup(name)
        expected = f"{name}: {found.path}" if found.path else f"{name}: MISSING. {name} is missing"
        assert expected in listed.stdout, listed.stdout


def test_a_hung_command_fails_with_the_command_and_its_last_output(tmp_path: Path) -> None:
    # The command starts a grandchild that would hold on; both are killed at the timeout.
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('step 1 done', flush=True)\n"
        "print('waiting on the network', file=sys.stderr, flush=True)\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failure:
        run_command([sys.executable, "-c", script], timeout=3)
    assert time.monotonic() - started < 60
    message = str(failure.value)
    assert message.startswith("timed out after 3 s and was killed: ")
    assert "time.sleep(600)" in message  # the command
    assert "step 1 done" in message and "waiting on the network" in message  # its last output
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{grandchild}").exists() and time.monotonic() < deadline:
        # A killed process stays a zombie until its parent (init here) reaps it.
        if "State:\tZ" in Path(f"/proc/{grandchild}/status").read_text():
            break
        time.sleep(0.1)
    status = Path(f"/proc/{grandchild}/status")
    assert not status.exists() or "State:\tZ" in status.read_text(), "the grandchild lives on"


def test_a_command_within_its_timeout_returns_its_output_and_exit_code() -> None:
    result = run_command([sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"])
    assert (result.returncode, result.stdout) == (3, "hi\n")
