-- Encryption at rest (storage/crypto.py): a sealed version keeps its JSON in content_enc (AES-256-GCM:
-- nonce || ciphertext || tag) and the id of its key in key_id; content is NULL then. Plain rows have
-- both NULL. Adding nullable columns rewrites nothing; the checks hold for every row written from now
-- on (NOT VALID: no scan of the rows already there, which cannot break them anyway).
ALTER TABLE resource ADD COLUMN content_enc bytea, ADD COLUMN key_id text;
ALTER TABLE resource_history ADD COLUMN content_enc bytea, ADD COLUMN key_id text;

-- Ciphertext does not compress: store it out of line as it is, without trying.
ALTER TABLE resource ALTER COLUMN content_enc SET STORAGE EXTERNAL;
ALTER TABLE resource_history ALTER COLUMN content_enc SET STORAGE EXTERNAL;

ALTER TABLE resource ADD CONSTRAINT resource_sealed_or_plain
    CHECK ((content_enc IS NULL) = (key_id IS NULL) AND (content_enc IS NULL OR content IS NULL)) NOT VALID;
ALTER TABLE resource_history ADD CONSTRAINT resource_history_sealed_or_plain
    CHECK ((content_enc IS NULL) = (key_id IS NULL) AND (content_enc IS NULL OR content IS NULL)) NOT VALID;

-- Which keys the rows need (checked at start: a key missing is an error then, not on some later read),
-- and the rows of a key being retired (fhir-server rotate-key).
CREATE INDEX resource_key ON resource (key_id, rid) WHERE key_id IS NOT NULL;
CREATE INDEX resource_history_key ON resource_history (key_id, seq) WHERE key_id IS NOT NULL;
