-- Resources: the current version of each, and every version in resource_history.
CREATE TABLE resource (
    rid           bigserial PRIMARY KEY,
    res_type      text        NOT NULL,
    id            text        NOT NULL,
    version       integer     NOT NULL,
    last_updated  timestamptz NOT NULL,
    deleted       boolean     NOT NULL DEFAULT false,
    content       jsonb,
    UNIQUE (res_type, id)
);
CREATE INDEX resource_type_updated ON resource (res_type, last_updated, rid);

CREATE TABLE resource_history (
    seq           bigserial PRIMARY KEY,
    rid           bigint      NOT NULL,
    res_type      text        NOT NULL,
    id            text        NOT NULL,
    version       integer     NOT NULL,
    last_updated  timestamptz NOT NULL,
    method        text        NOT NULL,
    content       jsonb,
    UNIQUE (res_type, id, version)
);
CREATE INDEX resource_history_updated ON resource_history (last_updated, seq);
CREATE INDEX resource_history_type_updated ON resource_history (res_type, last_updated, seq);

-- Small facts about this database (e.g. whether the demo data was loaded).
CREATE TABLE server_info (
    key   text PRIMARY KEY,
    value text NOT NULL
);
