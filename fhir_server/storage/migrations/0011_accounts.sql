-- Accounts, MFA, abuse protection and federated sign-in (smart_auth; issue "Accounts, MFA, Google sign-in").
-- As in 0004: secrets (one-time tokens, recovery codes, session ids) are stored only as SHA-256 hex.

-- Local accounts gain an email, a role, a switch to turn them off, and TOTP (RFC 6238) enrolment.
-- An account made by federated sign-in has no password.
ALTER TABLE auth_user
    ALTER COLUMN password_hash DROP NOT NULL,
    ADD COLUMN email           text,
    ADD COLUMN email_verified  boolean     NOT NULL DEFAULT false,
    ADD COLUMN role            text        NOT NULL DEFAULT 'practitioner'
                               CHECK (role IN ('patient', 'practitioner', 'admin')),
    ADD COLUMN disabled        boolean     NOT NULL DEFAULT false,
    ADD COLUMN totp_secret     text,
    ADD COLUMN totp_last_step  bigint      NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX auth_user_email ON auth_user (lower(email));
UPDATE auth_user SET role = 'patient' WHERE fhir_user LIKE 'Patient/%';

-- A session is complete once every sign-in step is done; a partial one (password given, second factor
-- pending) carries the TOTP secret being enrolled. Grants record the session they were issued under,
-- so that signing out revokes them.
ALTER TABLE auth_session
    ADD COLUMN complete        boolean     NOT NULL DEFAULT true,
    ADD COLUMN pending_secret  text,
    ADD COLUMN created         timestamptz NOT NULL DEFAULT now();
CREATE INDEX auth_session_user ON auth_session (username);
CREATE TABLE auth_session_grant (
    session_hash text        NOT NULL,
    grant_id     text        NOT NULL,
    expires      timestamptz NOT NULL,
    PRIMARY KEY (session_hash, grant_id)
);

-- MFA recovery codes: each good for one sign-in.
CREATE TABLE auth_recovery (
    username   text        NOT NULL REFERENCES auth_user (username) ON DELETE CASCADE,
    code_hash  text        NOT NULL,
    used       timestamptz,
    PRIMARY KEY (username, code_hash)
);

-- Single-use, expiring tokens sent by email: address verification, password reset, invitation.
CREATE TABLE auth_onetime (
    token_hash text PRIMARY KEY,
    username   text        NOT NULL REFERENCES auth_user (username) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    expires    timestamptz NOT NULL,
    used       timestamptz
);

-- Failed sign-ins per account (or per name typed, when there is no such account): lockout with a cool-down.
CREATE TABLE auth_lockout (
    ident         text PRIMARY KEY,
    failures      integer     NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    updated       timestamptz NOT NULL DEFAULT now()
);

-- Fixed-window request counters per endpoint group and client address (shared by all server processes).
CREATE TABLE auth_rate (
    bucket        text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL
);

-- Federated identities (OpenID Connect provider + subject) linked to local accounts.
CREATE TABLE auth_identity (
    provider  text        NOT NULL,
    subject   text        NOT NULL,
    username  text        NOT NULL REFERENCES auth_user (username) ON DELETE CASCADE,
    email     text,
    created   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);

-- A sign-in sent to an OpenID Connect provider, waiting for its callback (state, nonce, PKCE verifier).
CREATE TABLE auth_oidc_state (
    state_hash  text PRIMARY KEY,
    provider    text        NOT NULL,
    browser     text        NOT NULL,
    nonce       text        NOT NULL,
    verifier    text        NOT NULL,
    request_id  text,
    expires     timestamptz NOT NULL
);
