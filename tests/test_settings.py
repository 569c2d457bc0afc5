"""The settings are declared once (flows/settings.py); every consumer follows the declaration."""

from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path

import pytest

from flows import settings as settings_module
from flows.cli.args import ingest_settings
from flows.cli.main import build_parser
from flows.settings import (
    DEFAULT_SOURCE,
    REPO_ROOT,
    Settings,
    available_cores,
    declared_settings,
    load_settings,
    render_markdown,
)
from tests.conftest import CORPUS

NAMES = [
    "sources", "warehouse", "workers", "batch_size", "max_file_bytes", "strict", "full_refresh",
    "prune", "lock_timeout", "checkpoint_mb", "duckdb_memory_mb", "dask_address", "profile",
    "base_url",
]  # fmt: skip
EVERY_VARIABLE = {
    "NEWSFLOW_SOURCE": "a:b/c.md",
    "NEWSFLOW_WAREHOUSE": "out/w.duckdb",
    "NEWSFLOW_WORKERS": "3",
    "NEWSFLOW_BATCH_SIZE": "50",
    "NEWSFLOW_MAX_FILE_BYTES": "1000",
    "NEWSFLOW_STRICT": "yes",
    "NEWSFLOW_FULL_REFRESH": "1",
    "NEWSFLOW_PRUNE": "true",
    "NEWSFLOW_LOCK_TIMEOUT": "2.5",
    "NEWSFLOW_CHECKPOINT_MB": "64",
    "NEWSFLOW_DUCKDB_MEMORY_MB": "512",
    "NEWSFLOW_DASK_ADDRESS": "tcp://127.0.0.1:8786",
    "NEWSFLOW_PROFILE": "hugo",
    "NEWSFLOW_BASE_URL": "https://example.org/",
}
EVERY_VALUE = {
    "sources": (Path("a"), Path("b/c.md")),
    "warehouse": Path("out/w.duckdb"),
    "workers": 3,
    "batch_size": 50,
    "max_file_bytes": 1000,
    "strict": True,
    "full_refresh": True,
    "prune": True,
    "lock_timeout": 2.5,
    "checkpoint_mb": 64,
    "duckdb_memory_mb": 512,
    "dask_address": "tcp://127.0.0.1:8786",
    "profile": "hugo",
    "base_url": "https://example.org/",
}
EVERY_FLAG = [
    "--source", "a", "--source", "b/c.md", "--warehouse", "out/w.duckdb", "--workers", "3",
    "--batch-size", "50", "--max-file-bytes", "1000", "--strict", "--full-refresh", "--prune",
    "--lock-timeout", "2.5", "--checkpoint-mb", "64", "--duckdb-memory-mb", "512",
    "--dask-address", "tcp://127.0.0.1:8786", "--profile", "hugo",
    "--base-url", "https://example.org/",
]  # fmt: skip


def test_the_declared_settings_are_every_field_but_sql_dir() -> None:
    assert list(declared_settings()) == NAMES
    assert [f for f in Settings.__dataclass_fields__ if f not in NAMES] == ["sql_dir"]


def test_every_setting_is_read_from_its_variable() -> None:
    settings = load_settings(env=EVERY_VARIABLE)
    assert {name: getattr(settings, name) for name in NAMES} == EVERY_VALUE


def test_empty_variables_and_flags_win_over_variables() -> None:
    assert load_settings(env=dict.fromkeys(EVERY_VARIABLE, "")) == load_settings(env={})
    assert load_settings(env=EVERY_VARIABLE, workers=1, strict=False).workers == 1
    assert load_settings(env={}).sources == (DEFAULT_SOURCE,)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NEWSFLOW_WORKERS", "many", "NEWSFLOW_WORKERS: not a whole number: 'many'"),
        ("NEWSFLOW_WORKERS", "0", "NEWSFLOW_WORKERS: workers must be >= 1, got 0"),
        ("NEWSFLOW_BATCH_SIZE", "1.5", "NEWSFLOW_BATCH_SIZE: not a whole number: '1.5'"),
        ("NEWSFLOW_LOCK_TIMEOUT", "soon", "NEWSFLOW_LOCK_TIMEOUT: not a number: 'soon'"),
        ("NEWSFLOW_CHECKPOINT_MB", "0", "NEWSFLOW_CHECKPOINT_MB: checkpoint mb must be >= 1, got 0"),
        ("NEWSFLOW_MAX_FILE_BYTES", "0",
         "NEWSFLOW_MAX_FILE_BYTES: max file bytes must be >= 1, got 0"),
        ("NEWSFLOW_DUCKDB_MEMORY_MB", "0",
         "NEWSFLOW_DUCKDB_MEMORY_MB: duckdb memory mb must be >= 1, got 0"),
        ("NEWSFLOW_LOCK_TIMEOUT", "-1", "NEWSFLOW_LOCK_TIMEOUT: lock timeout must be >= 0, got -1.0"),
        ("NEWSFLOW_LOCK_TIMEOUT", "nan", "NEWSFLOW_LOCK_TIMEOUT: lock timeout must be >= 0, got nan"),
        ("NEWSFLOW_STRICT", "maybe", "NEWSFLOW_STRICT: not a yes/no value: 'maybe' (use one of "
         "1, true, yes, on, or 0, false, no, off)"),
    ],
)  # fmt: skip
def test_a_bad_variable_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        load_settings(env={variable: value})
    assert str(raised.value) == message


def test_overrides_are_checked_too() -> None:
    with pytest.raises(ValueError, match=r"^--batch-size: batch size must be >= 1, got 0$"):
        load_settings(env={}, batch_size=0)
    with pytest.raises(ValueError, match=r"^--lock-timeout: lock timeout must be >= 0, got -1$"):
        load_settings(env={}, lock_timeout=-1)


def test_workers_above_the_available_cores_are_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "available_cores", available_cores)  # the real ones
    cores = len(os.sched_getaffinity(0))
    assert load_settings(env={}, workers=1000).workers == cores
    assert load_settings(env={"NEWSFLOW_WORKERS": "1000"}).workers == cores
    monkeypatch.setattr(settings_module, "available_cores", lambda: 4)
    assert [load_settings(env={}, workers=n).workers for n in (1, 3, 4, 5, 1000)] == [1, 3, 4, 4, 4]


@pytest.fixture(autouse=True)
def _eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here ask for 3 workers: as if the machine had 8 cores (else they are clamped)."""
    monkeypatch.setattr(settings_module, "available_cores", lambda: 8)


def test_a_negative_lock_timeout_is_refused_instead_of_waiting_forever() -> None:
    with pytest.raises(ValueError) as raised:
        load_settings(env={}, lock_timeout=-1.0)
    assert str(raised.value) == "--lock-timeout: lock timeout must be >= 0, got -1.0"
    with pytest.raises(ValueError) as raised:
        load_settings(env={"NEWSFLOW_LOCK_TIMEOUT": "-5"})
    assert str(raised.value) == "NEWSFLOW_LOCK_TIMEOUT: lock timeout must be >= 0, got -5.0"
    assert load_settings(env={}, lock_timeout=0.0).lock_timeout == 0.0  # fail at once if busy


def _ingest_flags(command: str) -> dict[str, str]:
    """dest -> flag of every option of ``command`` whose dest is a setting."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = commands.choices[command]
    return {a.dest: a.option_strings[-1] for a in parser._actions if a.dest in NAMES}


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_and_serve_have_a_flag_for_every_setting(command: str) -> None:
    assert _ingest_flags(command) == {
        "sources": "--source", "warehouse": "--warehouse", "workers": "--workers",
        "batch_size": "--batch-size", "max_file_bytes": "--max-file-bytes", "strict": "--strict",
        "full_refresh": "--full-refresh", "prune": "--prune", "lock_timeout": "--lock-timeout",
        "checkpoint_mb": "--checkpoint-mb", "duckdb_memory_mb": "--duckdb-memory-mb",
        "dask_address": "--dask-address", "profile": "--profile", "base_url": "--base-url",
    }  # fmt: skip
    assert list(_ingest_flags(command)) == NAMES


@pytest.mark.parametrize("command", ["run", "serve"])
def test_every_flag_reaches_the_settings(command: str) -> None:
    args = build_parser().parse_args([command, *EVERY_FLAG])
    settings = ingest_settings(args)
    assert {name: getattr(settings, name) for name in NAMES} == EVERY_VALUE


def test_no_flag_leaves_the_variables_and_defaults() -> None:
    args = build_parser().parse_args(["run"])
    assert ingest_settings(args) == load_settings()


def test_parameters_are_every_setting_as_plain_values() -> None:
    settings = load_settings(env=EVERY_VARIABLE)
    assert settings.parameters() == {
        "sources": ["a", "b/c.md"], "warehouse": "out/w.duckdb", "workers": 3, "batch_size": 50,
        "max_file_bytes": 1000, "strict": True, "full_refresh": True, "prune": True,
        "lock_timeout": 2.5, "checkpoint_mb": 64, "duckdb_memory_mb": 512,
        "dask_address": "tcp://127.0.0.1:8786", "profile": "hugo",
        "base_url": "https://example.org/",
    }  # fmt: skip
    assert settings.parameters(absolute=True)["sources"] == [
        str(Path("a").absolute()), str(Path("b/c.md").absolute())
    ]  # fmt: skip


def test_a_run_records_the_same_parameters_as_before() -> None:
    recorded = load_settings(env=EVERY_VARIABLE).parameters(recorded=True)
    assert recorded == {
        "sources": ["a", "b/c.md"], "warehouse": "out/w.duckdb", "workers": 3, "batch_size": 50,
        "max_file_bytes": 1000, "full_refresh": True, "prune": True,
        "dask_address": "tcp://127.0.0.1:8786", "profile": "hugo",
        "base_url": "https://example.org/",
    }  # fmt: skip


def test_the_flow_takes_every_setting_and_lock_retries() -> None:
    from flows.pipeline.flow import deployment_parameters, ingest

    parameters = inspect.signature(ingest.fn).parameters
    assert set(parameters) == {*NAMES, "lock_retries"}
    for name in NAMES:
        expected = False if isinstance(getattr(Settings(), name), bool) else None
        assert parameters[name].default is expected, name
    assert set(ingest.parameters.properties) == {*NAMES, "lock_retries"}
    assert deployment_parameters(load_settings(env={}), lock_retries=2).keys() == set(parameters)


def test_the_flow_turns_its_parameters_into_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.pipeline import flow as pipeline

    seen: list[Settings] = []

    def stop(**overrides: object) -> Settings:
        seen.append(load_settings(env={}, **overrides))
        raise RuntimeError("stop here")

    monkeypatch.setattr(pipeline, "load_settings", stop)
    settings = load_settings(env=EVERY_VARIABLE)
    with pytest.raises(RuntimeError, match="stop here"):
        pipeline.ingest.fn(**settings.parameters(), lock_retries=1)
    assert seen == [settings]


def test_docs_settings_md_is_up_to_date() -> None:
    """Regenerate with: .venv/bin/python -m flows.settings > docs/settings.md"""
    assert (REPO_ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == render_markdown()


@pytest.mark.slow
def test_strict_fails_the_flow_run_and_the_cli_still_gets_the_summary(
    harness: None, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from flows.pipeline.flow import run_flow

    settings = load_settings(
        env={}, sources=(CORPUS,), warehouse=tmp_path / "w.duckdb", workers=1, strict=True
    )
    summary = run_flow(settings)
    assert (summary["status"], summary["files_rejected"]) == ("success", 4)
    with get_client(sync_client=True) as client:
        [flow_run] = [
            r for r in client.read_flow_runs(limit=50)
            if r.parameters.get("warehouse") == str(tmp_path / "w.duckdb")
        ]  # fmt: skip
    assert flow_run.state.is_failed()
    assert flow_run.parameters["strict"] is True
