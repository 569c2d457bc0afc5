"""The run as Prefect artifacts: ``ingest-summary`` (Markdown), ``data-tests``, ``rejections``,
``drift`` and ``quality-by-provider`` (tables)."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.analysis.warehouse import Warehouse
from flows.ingest import RunSummary
from flows.models import datatests
from flows.records import StageFailed
from flows.settings import Settings
from flows.text import markdown_table


def publish_data_tests(results: list[dict[str, Any]]) -> None:
    """The data-test results as the markdown artifact ``data-tests`` (also when they fail)."""
    create_markdown_artifact(datatests.render_markdown(results), key="data-tests")


def _plain(value: Any) -> Any:
    """Artifact tables are JSON: timestamps become ISO text."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def publish_artifacts(settings: Settings, summary: RunSummary) -> None:
    """``ingest-summary``, ``rejections`` and ``drift`` (when any), ``quality-by-provider``."""
    create_markdown_artifact(summary_markdown(summary), key="ingest-summary")
    if summary.rejections:
        create_table_artifact(
            [
                {"location": r["location"], "reason": r["reason"], "kind": r["kind"]}
                for r in summary.rejections
            ],
            key="rejections",
            description=f"First {len(summary.rejections)} of {summary.files_rejected} rejected "
            "files, rarest kinds first; all of them: `newsflow rejections [--kind K]`",
        )
    if summary.drift:
        create_table_artifact([dict(d) for d in summary.drift], key="drift")
    with Warehouse(settings.warehouse) as wh:
        quality = wh.query("select * from quality_by_provider").records()
    if quality:
        table = [{k: _plain(v) for k, v in row.items()} for row in quality]
        create_table_artifact(table, key="quality-by-provider")


def failure_markdown(run_id: str, settings: Settings, exc: StageFailed) -> str:
    return (
        f"# newsflow ingest `{run_id}`: failed at stage `{exc.stage}`\n\n"
        f"Warehouse: `{settings.warehouse}`\n\n**Error:** {exc.detail}\n\n"
        "Nothing was published: readers still see the previous run. "
        "`newsflow status` shows the run from the writer's working copy.\n"
    )


def _streaming_split(seconds: dict[str, float]) -> list[str]:
    """What the task ``parse_and_load`` did in its wall time: the workers parse while the load
    merges each group as it arrives (task ``extract`` only starts the workers)."""
    if "parse_and_load" not in seconds:
        return []
    wall, merging = seconds["parse_and_load"], seconds.get("load", 0.0)
    rows = [
        ["parsing (workers, wall: `extract`)", f"{seconds.get('extract', 0.0):.3f}"],
        ["merging (busy: `load`)", f"{merging:.3f}"],
        ["waiting for the workers", f"{max(0.0, wall - merging):.3f}"],
    ]
    return [
        "",
        f"Task `parse_and_load` took {wall:.3f} s: the workers parse while the load merges "
        "(task `extract` only starts them).",
        "",
        *markdown_table(["parse_and_load", "seconds"], rows, right={1}),
    ]


def summary_markdown(summary: RunSummary) -> str:
    """The ``ingest-summary`` artifact of a finished run."""
    files = ["files seen", "loaded", "rejected", "skipped (unchanged + superseded)",
             "ignored", "warnings"]  # fmt: skip
    skipped = f"{summary.files_skipped} ({summary.files_unchanged} + {summary.files_superseded})"
    counts = [summary.files_seen, summary.files_loaded, summary.files_rejected, skipped,
              summary.files_ignored, summary.warnings]  # fmt: skip
    tables = [
        [table, rows, summary.rows_inserted.get(table, 0), summary.rows_updated.get(table, 0),
         summary.rows_deleted.get(table, 0)]
        for table, rows in summary.table_rows.items()
    ]  # fmt: skip
    lines = [f"# newsflow ingest `{summary.run_id}`: {summary.status}", "",
             f"Warehouse: `{summary.warehouse}`", ""]  # fmt: skip
    lines += markdown_table(files, [counts], right=range(6))
    lines += ["", f"Files deleted since the last run: {summary.files_deleted}; "
              f"articles retired: {summary.articles_retired}.", ""]  # fmt: skip
    lines += markdown_table(["table", "rows", "inserted", "updated", "deleted"], tables,
                            right=range(1, 5))  # fmt: skip
    lines.append("")
    seconds = [[stage, f"{secs:.3f}"] for stage, secs in summary.seconds.items()]
    lines += markdown_table(["stage", "seconds"], seconds, right={1})
    lines += _streaming_split(summary.seconds)
    if summary.rejections:
        lines += ["", "## Rejections", ""]
        lines += markdown_table(
            ["kind", "files"], [[r["kind"], r["files"]] for r in summary.top_reasons], {1}
        )
        lines += [""] + [
            f"- `{r['location']}`: {r['reason']} [{r['kind']}]" for r in summary.rejections
        ]
    if summary.drift:
        lines += ["", "## Drift", ""]
        lines += markdown_table(
            ["key", "type seen", "contract type", "documents", "example"],
            [
                [f"`{d['key_path']}`", d["observed_type"], d["expected_type"] or "new key",
                 d["documents"], f"`{d['example_path']}`"]
                for d in summary.drift
            ],
            right={3},
        )  # fmt: skip
    if summary.models_failed:
        lines += ["", "## Failed models", ""]
        lines += [f"- `{name}`: {err}" for name, err in summary.models_failed.items()]
    if summary.data_tests:
        outcomes = [t["outcome"] for t in summary.data_tests]
        lines += ["", f"Data tests: {datatests.headline(outcomes)} (artifact `data-tests`)"]
    if summary.error:
        lines += ["", f"**Error:** {summary.error}"]
    return "\n".join(lines) + "\n"
