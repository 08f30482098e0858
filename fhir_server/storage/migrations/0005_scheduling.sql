-- Scheduling and geography (issue 7): slot claims, webhook idempotency, geocoding cache.

-- One row per Slot taken by an Appointment (pending, booked, arrived, fulfilled, ...). The primary
-- key is the "a slot is never booked twice" invariant, held by PostgreSQL for every server process;
-- writers lock the Slot's resource row first, so concurrent bookings of one slot queue up there.
CREATE TABLE scheduling_claim (
    slot_id        text PRIMARY KEY,
    appointment_id text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('hold', 'booked')),
    expires_at     timestamptz,                       -- holds only: when the hold lapses
    claimed_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((kind = 'hold') = (expires_at IS NOT NULL))
);
CREATE INDEX scheduling_claim_appointment ON scheduling_claim (appointment_id);
CREATE INDEX scheduling_claim_expiry ON scheduling_claim (expires_at) WHERE kind = 'hold';

-- ZocDoc webhook deliveries already applied (idempotency: ZocDoc documents no event id, so the key
-- is appointment id + update timestamp + update type).
CREATE TABLE zocdoc_webhook_event (
    event_key   text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome     text NOT NULL
);

-- Geocoding results by normalised address (Google Geocoding responses are reused, not re-bought).
CREATE TABLE geocode_cache (
    address_key text PRIMARY KEY,
    address     text NOT NULL,
    response    jsonb NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
