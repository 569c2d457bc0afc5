"""The slow-marker guards of tests/guards.py, live: this module's tests are themselves the
unmarked and marked tests they describe."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests import guards


def test_an_unmarked_test_cannot_start_a_process() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"not marked @pytest\.mark\.slow"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(pytest.fail.Exception, match=r"\['git', 'status'\]"):
        subprocess.check_output(["git", "status"])


@pytest.mark.slow
def test_a_slow_test_may_start_one() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0


def test_popen_refuses_during_an_unmarked_test_only() -> None:
    assert subprocess.Popen is guards._RefusingPopen  # restored after: the slow test above ran
    assert guards._RefusingPopen.__mro__[1].__module__ == "subprocess"


@dataclass
class _Item:
    nodeid: str
    fixturenames: list[str]
    slow: bool = False

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "slow" and self.slow else None


def test_prefect_fixtures_without_the_marker_fail_the_collection() -> None:
    items = [
        _Item("a.py::uses_harness", ["harness", "tmp_path"]),
        _Item("a.py::marked", ["prefect_api"], slow=True),
        _Item("a.py::plain", ["tmp_path"]),
        _Item("b.py::through_another_fixture", ["tmp_path", "prefect_api"]),
    ]
    with pytest.raises(pytest.UsageError) as error:
        guards.pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert str(error.value).splitlines()[1:] == [
        "  a.py::uses_harness",
        "  b.py::through_another_fixture",
    ]
    guards.pytest_collection_modifyitems(None, items[1:3])  # type: ignore[arg-type]
