-- The transactional outbox: one row per committed change, written in the change's own transaction.
-- The dispatcher claims rows (FOR UPDATE SKIP LOCKED), hands them to the consumers (subscriptions,
-- ...) and deletes them in one transaction: a crash mid-dispatch leaves them for the next run.
CREATE TABLE outbox (
    seq      bigserial PRIMARY KEY,
    created  timestamptz NOT NULL DEFAULT clock_timestamp(),
    rid      bigint  NOT NULL,
    res_type text    NOT NULL,
    id       text    NOT NULL,
    version  integer NOT NULL,
    action   text    NOT NULL          -- create | update | delete
);

-- Wake the dispatchers (LISTEN fhir_outbox) when a transaction with changes commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fhir_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Subscriptions (R4 subscription.html, and the R4 backport of topic-based subscriptions).
-- Per subscription: its counters and delivery state.
CREATE TABLE subscription_state (
    sub_id          text PRIMARY KEY,
    events          bigint NOT NULL DEFAULT 0,      -- events since subscription start
    status          text NOT NULL DEFAULT 'active', -- active | error | off
    error           text,
    last_sent       timestamptz,
    failing_since   timestamptz
);

-- Every event a subscription was notified of (for $events), in order.
CREATE TABLE subscription_event (
    sub_id   text        NOT NULL,
    number   bigint      NOT NULL,
    created  timestamptz NOT NULL DEFAULT clock_timestamp(),
    res_type text        NOT NULL,
    id       text        NOT NULL,
    version  integer     NOT NULL,
    action   text        NOT NULL,
    PRIMARY KEY (sub_id, number)
);

-- The delivery queue: claimed FOR UPDATE SKIP LOCKED by the delivery workers of every process;
-- one resource's events go out in order (an event waits while an earlier one of the same
-- subscription and resource is pending).
CREATE TABLE subscription_delivery (
    sub_id     text        NOT NULL,
    number     bigint      NOT NULL,
    res_key    text        NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_error text,
    PRIMARY KEY (sub_id, number)
);
CREATE INDEX subscription_delivery_due ON subscription_delivery (next_at);
CREATE INDEX subscription_delivery_key ON subscription_delivery (sub_id, res_key, number);
