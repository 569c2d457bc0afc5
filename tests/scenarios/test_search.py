"""Full-text search on the sample corpus: the seed document is found, results are ranked, the
index is rebuilt only when the articles changed, and `newsflow search` exits as documented."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.analysis.warehouse import QueryError, Warehouse
from flows.ingest import RunSummary, run_ingest
from flows.load.search import BUILT_BY_KEY
from flows.settings import DEFAULT_SOURCE, Settings, load_settings
from tests.conftest import query

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
SEED = "000_ea677038ccb46893.txt"


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RunSummary]:
    settings = load_settings(
        env={}, warehouse=tmp_path_factory.mktemp("search") / "seeds.duckdb", workers=1
    )
    return settings, run_ingest(settings)


def _seed_id(settings: Settings) -> str:
    [row] = query(
        settings.warehouse,
        "select article_id from article where source_path like ?",
        [f"%{SEED}"],
    )
    return row["article_id"]


def test_search_finds_the_seed_document_by_a_word_of_its_excerpt(seeds_run) -> None:
    settings, _ = seeds_run
    # "livestreaming" is in the seed's excerpt only (article 038 cites the seed as related)
    with Warehouse(settings.warehouse) as wh:
        found = wh.search("livestreaming")
    assert found.columns == ["article_id", "title", "published_at", "provider", "score"]
    assert [row[0] for row in found.rows] == [_seed_id(settings)]
    assert found.rows[0][1] == "Alibaba facial recognition tech can identify Uighurs: Report"
    assert found.rows[0][3] == "Al Jazeera English"


def test_results_are_ranked_best_first(seeds_run) -> None:
    settings, _ = seeds_run
    with Warehouse(settings.warehouse) as wh:
        found = wh.search("Alibaba facial recognition Uighurs", limit=5)
    scores = [row[-1] for row in found.rows]
    assert found.rows[0][0] == _seed_id(settings)
    assert len(scores) == 5 and scores == sorted(scores, reverse=True) and scores[-1] > 0
    with Warehouse(settings.warehouse) as wh:
        with pytest.raises(ValueError, match="no letters or digits"):
            wh.search(" ?! ")
        assert wh.search("zzzqqq").rows == []


def test_an_unchanged_rerun_does_not_rebuild_the_index(seeds_run, tmp_path: Path) -> None:
    settings, _ = seeds_run
    source = tmp_path / "src"
    shutil.copytree(DEFAULT_SOURCE, source)
    again = settings.with_overrides(warehouse=tmp_path / "again.duckdb", sources=(source,))
    built_by = f"select value from etl.meta where key = '{BUILT_BY_KEY}'"
    first = run_ingest(again)
    assert query(again.warehouse, built_by) == [{"value": first.run_id}]
    rerun = run_ingest(again)
    assert (rerun.files_loaded, rerun.files_unchanged) == (0, first.files_loaded)
    assert query(again.warehouse, built_by) == [{"value": first.run_id}]
    # a changed article rebuilds it
    seed = source / SEED
    seed.write_text(seed.read_text().replace("livestreaming", "zeppelins"), encoding="utf-8")
    changed = run_ingest(again)
    assert changed.files_loaded == 1
    assert query(again.warehouse, built_by) == [{"value": changed.run_id}]
    with Warehouse(again.warehouse) as wh:
        assert [row[0] for row in wh.search("zeppelins").rows] == [_seed_id(settings)]
        assert wh.search("livestreaming").rows == []


def test_a_warehouse_without_the_index_says_how_to_get_it(seeds_run, tmp_path: Path) -> None:
    import duckdb

    settings, _ = seeds_run
    old = tmp_path / "old.duckdb"
    shutil.copyfile(settings.warehouse, old)
    conn = duckdb.connect(str(old))
    conn.execute("drop schema search cascade")
    conn.close()
    with Warehouse(old) as wh, pytest.raises(QueryError, match="next `newsflow run` builds it"):
        wh.search("robot")


@pytest.mark.slow
def test_cli_search_exit_codes(seeds_run) -> None:
    settings, _ = seeds_run

    def search(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NEWSFLOW, "search", *args, "--warehouse", str(settings.warehouse)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    found = search("livestreaming", "--format", "csv")
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert lines[0] == "article_id,title,published_at,provider,score"
    assert len(lines) == 2 and lines[1].startswith(_seed_id(settings) + ",")
    assert found.stderr == "1 article(s) in " + found.stderr.split(" in ")[1]
    limited = search("robot", "--limit", "2", "--format", "csv", "-q")
    assert limited.returncode == 0 and len(limited.stdout.splitlines()) == 3
    none = search("zzzqqq")
    assert (none.returncode, none.stdout, none.stderr) == (1, "", "no article matches 'zzzqqq'\n")
    usage = search("?!")
    assert usage.returncode == 2
    assert usage.stderr == "newsflow: search: nothing to search for in '?!': no letters or digits\n"
    assert search("robot", "--limit", "0").returncode == 2
