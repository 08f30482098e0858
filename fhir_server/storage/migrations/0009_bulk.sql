-- Bulk Data Access (FHIR Bulk Data IG 2.0 $export; NDJSON $import): jobs, their files, import input.
-- Everything lives here, not on a local disk, so any server process can run, resume or serve a job.

CREATE TABLE bulk_job (
    id               text PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('export', 'import')),
    status           text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    client_id        text,                      -- the client that kicked it off: status and files are its own
    request          text        NOT NULL,      -- the kick-off URL (manifest "request")
    spec             jsonb       NOT NULL,      -- what to do (export: SQL per type; import: inputs, types allowed)
    state            jsonb       NOT NULL DEFAULT '{}',   -- progress (cursors, counters), updated with each part
    transaction_time timestamptz NOT NULL,
    created          timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished         timestamptz,
    expires          timestamptz,               -- files are removed after this
    owner            text,                      -- the server process running it
    lease_until      timestamptz,               -- another process may take it over after this
    runs             integer     NOT NULL DEFAULT 0,
    error_status     integer,
    error            text
);
CREATE INDEX bulk_job_open ON bulk_job (created) WHERE status IN ('queued', 'running');
CREATE INDEX bulk_job_expires ON bulk_job (expires) WHERE expires IS NOT NULL;

-- The files of a job as NDJSON parts, in order: a file is its parts concatenated.
CREATE TABLE bulk_part (
    job_id   text    NOT NULL REFERENCES bulk_job (id) ON DELETE CASCADE,
    file_no  integer NOT NULL,
    seq      integer NOT NULL,
    kind     text    NOT NULL CHECK (kind IN ('output', 'error', 'deleted')),
    res_type text    NOT NULL,
    n        integer NOT NULL,                  -- lines (resources) in this part
    made_by  text,                              -- the process that wrote it
    data     text    NOT NULL,
    PRIMARY KEY (job_id, file_no, seq)
);

-- $import input, in chunks of whole lines; a chunk is written in one transaction that also marks it done.
CREATE TABLE bulk_input (
    job_id     text    NOT NULL REFERENCES bulk_job (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    input_no   integer NOT NULL,
    first_line integer NOT NULL,
    lines      integer NOT NULL,
    data       bytea   NOT NULL,
    done       boolean NOT NULL DEFAULT false,
    ok         integer NOT NULL DEFAULT 0,
    failed     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX bulk_input_todo ON bulk_input (job_id, seq) WHERE NOT done;
