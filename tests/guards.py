"""Keeps ``pytest -m "not slow"`` honest: slow work cannot hide in a test without the marker.

A test must carry ``@pytest.mark.slow`` (on the function, its class or the module's
``pytestmark``) when it

- starts a process of its own: ``subprocess.run``/``Popen`` directly or through a helper or a
  fixture (the ``newsflow`` command, ``jupyter``, ``prefect server``, ``python -c``), or
- uses Prefect: the ``prefect_api``/``harness`` fixtures, or ``prefect_test_harness`` (which
  starts its API server in a subprocess).

Two hooks, imported by ``tests/conftest.py``, enforce it at run time, whatever file the test
is in and however the process is started, so the rule cannot regress by a forgotten marker:

1. ``pytest_collection_modifyitems`` fails the collection, naming every offender, when a test
   without the marker requests a Prefect fixture (``PREFECT_FIXTURES``), directly or through
   another fixture. This runs before ``-m`` deselects anything, so the fast subset reports it.
2. ``pytest_runtest_setup``/``pytest_runtest_call`` wrap the setup (fixtures included) and the
   body of every test without the marker with a ``subprocess.Popen`` that refuses to start and
   fails the test naming the command. ``subprocess.run``/``check_output``, asyncio's
   subprocesses and Prefect's test server all go through ``Popen``; ``os.system``,
   ``os.posix_spawn`` and ``os.exec*`` do not (no test uses them). Worker processes
   (``multiprocessing``/``concurrent.futures``) do not either: they are the code under test,
   not a separate program. ``LIBRARY_PROBES`` lists the few programs that
   libraries run on their own to probe the machine (matplotlib asks ``fc-list`` for fonts when
   it builds its font cache); those are allowed. Teardown is not wrapped: a session fixture
   started by a slow test may stop its process after the last (fast) test of the session.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PREFECT_FIXTURES = frozenset({"prefect_api", "harness"})
LIBRARY_PROBES = frozenset({"fc-list", "ldconfig", "uname"})


def is_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    offenders = [
        item.nodeid
        for item in items
        if PREFECT_FIXTURES & set(getattr(item, "fixturenames", ())) and not is_slow(item)
    ]
    if offenders:
        raise pytest.UsageError(
            "tests using Prefect (fixtures prefect_api/harness) must be marked "
            "@pytest.mark.slow:\n  " + "\n  ".join(offenders)
        )


def _program(args: Any) -> str:
    if isinstance(args, str | bytes | Path):
        first = str(args).split()[0] if str(args).split() else str(args)
    elif isinstance(args, Sequence) and args:
        first = str(args[0])
    else:
        first = str(args)
    return Path(first).name


class _RefusingPopen(subprocess.Popen):
    nodeid = ""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        if _program(args) not in LIBRARY_PROBES:
            pytest.fail(
                f"{self.nodeid} starts a subprocess ({args!r}) but is not marked "
                "@pytest.mark.slow (see tests/guards.py)",
                pytrace=False,
            )
        super().__init__(args, *rest, **kwargs)


@contextmanager
def _refusing_subprocesses(item: pytest.Item) -> Iterator[None]:
    if is_slow(item):
        yield
        return
    real = subprocess.Popen
    _RefusingPopen.nodeid = item.nodeid
    subprocess.Popen = _RefusingPopen  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _refusing_subprocesses(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _refusing_subprocesses(item):
        return (yield)
