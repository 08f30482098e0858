-- Real-time chat over Communication (R4 communication.html): every committed Communication change is
-- announced on the channel fhir_chat ('<id> <version> <action>'), at commit, so that each server
-- process can push it at once to the participants connected there.
CREATE FUNCTION chat_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fhir_chat', n.id || ' ' || n.version || ' ' || n.action)
    FROM chat_outbox_rows n
    WHERE n.res_type = 'Communication';
    RETURN NULL;
END $$;
CREATE TRIGGER chat_notify AFTER INSERT ON outbox REFERENCING NEW TABLE AS chat_outbox_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_notify();
