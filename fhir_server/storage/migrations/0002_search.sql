-- Search parameters: one small integer per (resource type, code), carried by every index row.
CREATE TABLE search_param (
    pid       serial PRIMARY KEY,
    res_type  text NOT NULL,
    code      text NOT NULL,
    type      text NOT NULL,
    UNIQUE (res_type, code)
);

-- Index tables, one per parameter type; rows exist only for the current version of live resources.
CREATE TABLE idx_string (
    rid   bigint NOT NULL,
    pid   integer NOT NULL,
    norm  text NOT NULL,      -- case- and accent-folded, for the default starts-with match
    exact text NOT NULL
);
CREATE INDEX idx_string_norm ON idx_string (pid, norm text_pattern_ops);
CREATE INDEX idx_string_rid ON idx_string (rid);

CREATE TABLE idx_token (
    rid    bigint NOT NULL,
    pid    integer NOT NULL,
    system text,
    code   text,
    text   text,              -- folded display / text, for :text
    kind   smallint NOT NULL DEFAULT 0   -- 0 value, 1 identifier type (:of-type: code = type|value)
);
CREATE INDEX idx_token_code ON idx_token (pid, code, system);
CREATE INDEX idx_token_rid ON idx_token (rid);

CREATE TABLE idx_date (
    rid bigint NOT NULL,
    pid integer NOT NULL,
    lo  timestamptz NOT NULL,  -- the value as a range [lo, hi)
    hi  timestamptz NOT NULL
);
CREATE INDEX idx_date_lo ON idx_date (pid, lo);
CREATE INDEX idx_date_hi ON idx_date (pid, hi);
CREATE INDEX idx_date_rid ON idx_date (rid);

CREATE TABLE idx_number (
    rid   bigint NOT NULL,
    pid   integer NOT NULL,
    value numeric NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (pid, value);
CREATE INDEX idx_number_rid ON idx_number (rid);

CREATE TABLE idx_quantity (
    rid        bigint NOT NULL,
    pid        integer NOT NULL,
    system     text,
    code       text,
    unit       text,
    lo         numeric,
    hi         numeric,
    canon_code text,            -- UCUM canonical unit, when the unit converts
    canon_lo   numeric,
    canon_hi   numeric
);
CREATE INDEX idx_quantity_value ON idx_quantity (pid, lo);
CREATE INDEX idx_quantity_canon ON idx_quantity (pid, canon_code, canon_lo);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid);

CREATE TABLE idx_reference (
    rid          bigint NOT NULL,
    pid          integer NOT NULL,
    target_type  text,
    target_id    text,
    url          text,          -- absolute URL or canonical (without |version)
    version      text,
    ident_system text,          -- Reference.identifier, for :identifier
    ident_value  text
);
CREATE INDEX idx_reference_target ON idx_reference (pid, target_id, target_type);
CREATE INDEX idx_reference_rev ON idx_reference (target_type, target_id);
CREATE INDEX idx_reference_url ON idx_reference (pid, url);
CREATE INDEX idx_reference_rid ON idx_reference (rid);

CREATE TABLE idx_uri (
    rid bigint NOT NULL,
    pid integer NOT NULL,
    uri text NOT NULL
);
CREATE INDEX idx_uri_uri ON idx_uri (pid, uri text_pattern_ops);
CREATE INDEX idx_uri_rid ON idx_uri (rid);

CREATE TABLE idx_geo (
    rid bigint NOT NULL,
    pid integer NOT NULL,
    lat double precision NOT NULL,
    lon double precision NOT NULL
);
CREATE INDEX idx_geo_pos ON idx_geo (pid, lat, lon);
CREATE INDEX idx_geo_rid ON idx_geo (rid);

-- Composite parameters (code-value-quantity, ...): the first component as a token, the second typed.
CREATE TABLE idx_composite (
    rid       bigint NOT NULL,
    pid       integer NOT NULL,
    c1_system text,
    c1_code   text,
    c2_system text,
    c2_code   text,
    c2_text   text,
    c2_lo     numeric,
    c2_hi     numeric,
    c2_canon_code text,
    c2_canon_lo   numeric,
    c2_canon_hi   numeric,
    c2_dlo    timestamptz,
    c2_dhi    timestamptz
);
CREATE INDEX idx_composite_c1 ON idx_composite (pid, c1_code, c1_system);
CREATE INDEX idx_composite_rid ON idx_composite (rid);

-- Search results of one type in insertion order (the default sort and its paging cursor).
CREATE INDEX resource_type_rid ON resource (res_type, rid) WHERE NOT deleted;
