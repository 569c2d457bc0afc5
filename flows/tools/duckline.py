"""The DuckDB line and the keys, measured side by side on the bench corpus (docs/duckdb-line.md).

``python -m flows.tools.duckline --docs 20000 --corpus /tmp/c --old-python /tmp/duck14/bin/python
--cli /tmp/duck14/bin/duckdb`` loads the synthetic corpus with the core pipeline (no Prefect), each
load in its own subprocess, in one invocation:

- ``2.0``: DuckDB 2.0 writing its own storage format (v2.0.0, the format before this change);
- ``2.0-v1.4``: DuckDB 2.0 writing storage v1.4.0 (what newsflow writes now);
- ``2.0-v1.4-keys``: the same with PRIMARY/FOREIGN KEYs on article, image, related, article_topic;
- ``1.4.4``: the 1.4 LTS line (``--old-python``, a venv with ``duckdb==1.4.4`` and
  ``duckdb-ext-fts``): today's code is run there, and its file made by ``COPY FROM DATABASE``.

For each file: load wall time, file size, the best of five runs of a few typical queries, whether it
opens in ``--cli`` (PyPI's duckdb-cli) and in the 1.4 Python client; for 1.4.4 also the fts index
build time and a BM25 query.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from flows.extract.discover import discover
from flows.settings import SQL_DIR

QUERIES = {
    "by_provider": "select provider_id, count(*), avg(quality) from article group by 1",
    "topic_join": (
        "select t.name, count(*) from article a join article_topic art using (article_id) "
        "join topic t using (topic_id) where a.title ilike '%model%' group by 1"
    ),
    "model_view": "select count(*), sum(article_count) from provider_volume_by_month",
    "json_tstz": (
        "select count(*) from article where published_at >= timestamptz '2021-01-01' "
        "and extra is null"
    ),
}

LOAD = (
    "import dataclasses, json, sys, time\n"
    "from pathlib import Path\n"
    "import flows.db as d\n"
    "d.STORAGE_VERSION = sys.argv[1]\n"
    "from flows.cli.args import ingest_settings\n"
    "from flows.cli.main import build_parser\n"
    "s = ingest_settings(build_parser().parse_args(['run', '--no-prefect', *sys.argv[3:]]))\n"
    "if sys.argv[2] != '-':\n"
    "    s = dataclasses.replace(s, sql_dir=Path(sys.argv[2]))\n"
    "from flows.ingest import run_ingest\n"
    "t = time.perf_counter()\n"
    "r = run_ingest(s)\n"
    "print('RESULT ' + json.dumps({'wall': time.perf_counter() - t, 'load': r.seconds['load']}))\n"
)

QUERY = (
    "import duckdb, json, sys, time\n"
    "c = duckdb.connect(sys.argv[1], read_only=True)\n"
    "out = {'version': duckdb.__version__}\n"
    "for name, sql in json.loads(sys.argv[2]).items():\n"
    "    best = 1e9\n"
    "    for _ in range(5):\n"
    "        t = time.perf_counter()\n"
    "        c.execute(sql).fetchall()\n"
    "        best = min(best, time.perf_counter() - t)\n"
    "    out[name] = best\n"
    "print('RESULT ' + json.dumps(out))\n"
)

COPY = (
    "import duckdb, sys, time\n"
    "c = duckdb.connect()\n"
    "c.execute(f\"attach '{sys.argv[1]}' as src (read_only)\")\n"
    "c.execute(f\"attach '{sys.argv[2]}' as dst\")\n"
    "t = time.perf_counter()\n"
    "c.execute('copy from database src to dst')\n"
    "print('RESULT {\"copy\": %f}' % (time.perf_counter() - t))\n"
)

FTS = (
    "import duckdb, glob, os, sys, time, json, duckdb_ext\n"
    "c = duckdb.connect(sys.argv[1], config={'autoinstall_known_extensions': False,"
    " 'autoload_known_extensions': False})\n"
    "ext = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], 'extensions', '*', '*',"
    " 'fts.duckdb_extension'))[0]\n"
    "c.execute(f\"load '{ext}'\")\n"
    "t = time.perf_counter()\n"
    "c.execute(\"pragma create_fts_index('article', 'article_id', 'title', 'excerpt', 'body',"
    ' overwrite=1)")\n'
    "build = time.perf_counter() - t\n"
    "t = time.perf_counter()\n"
    "rows = c.execute(\"select article_id, fts_main_article.match_bm25(article_id, 'robot vision')"
    ' s from article where s is not null order by s desc limit 10").fetchall()\n'
    "print('RESULT ' + json.dumps({'fts_build': build, 'bm25_query': time.perf_counter() - t,"
    " 'hits': len(rows)}))\n"
)

PRIMARY_KEYS = {
    "article_id varchar not null,\n    canonical_url": (
        "article_id varchar primary key,\n    canonical_url"
    ),
    "related_id varchar not null,\n    article_id varchar not null,": (
        "related_id varchar primary key,\n    article_id varchar not null,"
    ),
    "image_id varchar not null,\n    article_id varchar not null,": (
        "image_id varchar primary key,\n    article_id varchar not null,"
    ),
    "    position integer not null\n);": (
        "    position integer not null,\n    primary key (article_id, topic_id)\n);"
    ),
}
KEYS = {
    "article_id varchar not null,\n    canonical_url": (
        "article_id varchar primary key,\n    canonical_url"
    ),
    "related_id varchar not null,\n    article_id varchar not null,": (
        "related_id varchar primary key,\n"
        "    article_id varchar not null references article (article_id),"
    ),
    "image_id varchar not null,\n    article_id varchar not null,": (
        "image_id varchar primary key,\n"
        "    article_id varchar not null references article (article_id),"
    ),
    "    position integer not null\n);": (
        "    position integer not null,\n    primary key (article_id, topic_id),\n"
        "    foreign key (article_id) references article (article_id),\n"
        "    foreign key (topic_id) references topic (topic_id)\n);"
    ),
}


def _result(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        lines = proc.stderr.strip().splitlines() or ["?"]
        said = [x for x in lines if "Error" in x] or lines
        return {"error": said[-1][:300]}
    return json.loads(line[7:])


def keyed_sql_dir(into: Path, keys: dict[str, str]) -> Path:
    """A copy of sql/ whose 01_warehouse.sql declares ``keys`` on the article tables."""
    shutil.copytree(SQL_DIR, into)
    ddl = into / "schema" / "01_warehouse.sql"
    text = ddl.read_text(encoding="utf-8")
    for old, new in keys.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    ddl.write_text(text, encoding="utf-8")
    return into


def opens_in_cli(cli: str, path: Path) -> str:
    proc = subprocess.run(
        [cli, "-readonly", "-csv", "-noheader", str(path), "-c", "select count(*) from article"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return f"yes ({proc.stdout.strip()} articles)"
    match = re.search(
        r"version number \d+, but we can only read versions between \d+ and \d+", proc.stderr
    )
    return "no: " + (match.group(0) if match else proc.stderr.strip()[:120])


def measure(docs: int, corpus: Path, old_python: str, cli: str, workers: int) -> dict[str, Any]:
    from flows.tools.synth import write_corpus

    if len(discover([corpus]).paths if corpus.exists() else []) != docs:
        write_corpus(corpus, docs)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="newsflow-duckline-") as tmp:
        primary = keyed_sql_dir(Path(tmp) / "sql-pk", PRIMARY_KEYS)
        keyed = keyed_sql_dir(Path(tmp) / "sql-keys", KEYS)
        variants = {
            "2.0": ("latest", "-"),
            "2.0-v1.4": ("v1.4.0", "-"),
            "2.0-v1.4-pk": ("v1.4.0", str(primary)),
            "2.0-v1.4-pk-fk": ("v1.4.0", str(keyed)),
        }
        common = ["--source", str(corpus), "--workers", str(workers)]
        # three rounds, interleaved, so a busy neighbour does not favour one variant
        for round_ in (1, 2, 3):
            for name, (storage, sql_dir) in variants.items():
                path = Path(tmp) / f"{name}-{round_}.duckdb"
                got = _result(
                    [
                        sys.executable,
                        "-c",
                        LOAD,
                        storage,
                        sql_dir,
                        "--warehouse",
                        str(path),
                        *common,
                    ]
                )
                print(f"load {name} round {round_}: {got}", flush=True)
                out.setdefault(name, {}).setdefault("loads", []).append(got)
        for name in variants:
            path = Path(tmp) / f"{name}-1.duckdb"
            if not path.exists():
                continue
            row = out[name]
            row["mb"] = path.stat().st_size / 2**20
            row["queries_2.0"] = _result(
                [sys.executable, "-c", QUERY, str(path), json.dumps(QUERIES)]
            )
            row["queries_1.4"] = _result([old_python, "-c", QUERY, str(path), json.dumps(QUERIES)])
            row["cli"] = opens_in_cli(cli, path)
            print(f"{name}: {row}", flush=True)
        # the 1.4 LTS line: today's code on duckdb 1.4.4, then a file 1.4.4 writes itself
        old = Path(tmp) / "1.4.4-run.duckdb"
        row = out["1.4.4"] = {
            "run": _result(
                [old_python, "-c", LOAD, "v1.4.0", "-", "--warehouse", str(old), *common]
            )
        }
        own = Path(tmp) / "1.4.4.duckdb"
        row["copy"] = _result(
            [old_python, "-c", COPY, str(Path(tmp) / "2.0-v1.4-1.duckdb"), str(own)]
        )
        row["mb"] = own.stat().st_size / 2**20
        row["queries_1.4"] = _result([old_python, "-c", QUERY, str(own), json.dumps(QUERIES)])
        row["fts"] = _result([old_python, "-c", FTS, str(own)])
        row["mb_with_fts"] = own.stat().st_size / 2**20
        row["cli"] = opens_in_cli(cli, own)
        print(f"1.4.4: {row}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--old-python", required=True, help="python of a duckdb 1.4.4 venv")
    parser.add_argument("--cli", required=True, help="PyPI duckdb-cli's duckdb binary")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = measure(args.docs, args.corpus, args.old_python, args.cli, args.workers)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
