-- Run bookkeeping (etl schema).
create schema if not exists etl;

-- etl.run: one row per run; files_seen = loaded + rejected + skipped + ignored
create table if not exists etl.run (
    run_id varchar primary key,
    flow_run_id varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    sources varchar[],
    parameters json,
    files_seen integer,
    files_loaded integer,
    files_rejected integer,
    files_skipped integer,
    files_ignored integer,
    files_unchanged integer,
    files_superseded integer,
    files_deleted integer,
    warnings integer,
    rows_inserted json,
    rows_updated json,
    rows_deleted json,
    table_rows json,
    seconds json,
    error varchar
);

-- etl.rejection: the quarantine, one row per file that is currently rejected; a row stays until
-- the file loads (or is removed), and is refreshed by every run that rejects the file again
create table if not exists etl.rejection (
    path varchar primary key,
    run_id varchar not null,
    first_run_id varchar not null,
    sha256 varchar,
    stage varchar not null,
    kind varchar not null,
    reason varchar not null,
    line integer,
    col integer,
    excerpt varchar
);

-- etl.warning: one row per coerced or dropped value of a loaded article (replaced with it)
create table if not exists etl.warning (
    run_id varchar not null,
    article_id varchar not null,
    path varchar not null,
    field varchar not null,
    message varchar not null
);

-- etl.drift: per run, keys outside the contract and values of another type than the contract's
create table if not exists etl.drift (
    run_id varchar not null,
    key_path varchar not null,
    observed_type varchar not null,
    expected_type varchar,
    documents integer not null,
    example_path varchar not null
);

-- etl.front_matter: the raw front matter of every loaded article (replaced with it; no index,
-- like the article tables: the loader keeps article_id unique and a data test checks it)
create table if not exists etl.front_matter (
    article_id varchar not null,
    source_path varchar not null,
    source_sha256 varchar not null,
    front_matter varchar using compression zstd
);

-- etl.file: the file ledger, one row per file ever seen under a run's sources. A run skips a
-- file whose size and mtime are unchanged without reading it, and one whose sha256 is unchanged
-- without parsing it. status: loaded | superseded | rejected | deleted.
create table if not exists etl.file (
    path varchar primary key,
    size bigint,
    mtime_ns bigint,
    sha256 varchar,
    contract_version varchar not null,
    status varchar not null,
    article_id varchar,
    first_seen_at timestamptz not null,
    last_loaded_at timestamptz,
    last_run_id varchar not null
);

-- etl.meta: facts about the warehouse itself (schema version)
create table if not exists etl.meta (
    key varchar primary key,
    value varchar not null
);

-- etl.model: one row per model built from sql/models, so a model whose file is deleted is
-- noticed and its relation dropped
create table if not exists etl.model (
    name varchar primary key,
    path varchar not null,
    materialized varchar not null,
    built_at timestamptz not null
);
