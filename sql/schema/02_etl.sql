-- Run bookkeeping (etl schema).
create schema if not exists etl;

-- etl.run: one row per run
create table if not exists etl.run (
    run_id varchar primary key,
    flow_run_id varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    sources varchar[],
    files_seen integer,
    files_loaded integer,
    files_unchanged integer,
    files_superseded integer,
    files_rejected integer,
    warnings integer,
    rows_inserted json,
    rows_deleted json,
    table_rows json,
    seconds json,
    error varchar
);

-- etl.rejection: one row per document a run could not load
create table if not exists etl.rejection (
    run_id varchar not null,
    path varchar not null,
    sha256 varchar,
    stage varchar not null,
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
