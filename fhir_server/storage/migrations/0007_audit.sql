-- The audit trail (R4 auditevent.html, after IHE BALP). Facts are recorded cheaply and durably when
-- they happen; the audit workers of the server processes turn them into AuditEvent resources
-- (claimed FOR UPDATE SKIP LOCKED, written and deleted in one transaction: none is lost or doubled).
--   request: a read, search, history, operation, login, token request or failure; committed before
--            the response is sent (data = the fact);
--   write:   one per committed change, written by the trigger below in the change's own transaction
--            (data = the request context the server set with set_config('fhir.audit', ...), or NULL
--            for a change made outside a client request).
CREATE TABLE audit_queue (
    seq       bigserial   PRIMARY KEY,
    created   timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind      text        NOT NULL,      -- request | write
    grp       text,                      -- write: the request id, or 'tx:<xid>' outside a request
    res_type  text,
    id        text,
    version   integer,
    action    text,                      -- write: create | update | delete
    data      jsonb
);

-- Every change reaches the outbox in its own transaction: so does its audit fact. A transaction that
-- sets fhir.audit = 'off' (a server started with FHIR_AUDIT=off) records none. The audit workers'
-- own AuditEvents are not audited again.
CREATE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ctx   text := current_setting('fhir.audit', true);
    facts jsonb;
BEGIN
    IF ctx = 'off' THEN
        RETURN NULL;
    END IF;
    IF ctx IS NOT NULL AND ctx <> '' THEN
        facts := ctx::jsonb;
    END IF;
    INSERT INTO audit_queue (kind, grp, res_type, id, version, action, data)
    SELECT 'write', coalesce(facts->>'rq', 'tx:' || pg_current_xact_id()::text), n.res_type, n.id, n.version,
           n.action, facts
    FROM audit_outbox_rows n
    WHERE n.res_type <> 'AuditEvent';
    RETURN NULL;
END $$;
CREATE TRIGGER audit_write AFTER INSERT ON outbox REFERENCING NEW TABLE AS audit_outbox_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit_write();
