-- SMART App Launch 2.x / OAuth 2.0 authorization server state (smart_auth).
-- Secrets (client secrets, codes, refresh tokens, session and launch ids) are stored only as SHA-256 hex.

-- The server's signing keys (RS256); the newest one not retired signs, all of them verify.
CREATE TABLE auth_key (
    kid          text PRIMARY KEY,
    alg          text        NOT NULL,
    private_pem  text        NOT NULL,
    created      timestamptz NOT NULL DEFAULT now(),
    retired      boolean     NOT NULL DEFAULT false
);

-- Registered clients (fhir-server clients add, or RFC 7591 dynamic registration).
CREATE TABLE auth_client (
    client_id    text PRIMARY KEY,
    name         text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('public', 'confidential', 'backend')),
    auth_method  text        NOT NULL,
    secret_hash  text,
    redirect_uris text[]     NOT NULL DEFAULT '{}',
    scope        text        NOT NULL,
    jwks         jsonb,
    jwks_uri     text,
    created      timestamptz NOT NULL DEFAULT now()
);

-- Local accounts (username/password; argon2 hashes) and their browser sessions.
CREATE TABLE auth_user (
    username      text PRIMARY KEY,
    password_hash text        NOT NULL,
    fhir_user     text,
    name          text,
    created       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE auth_session (
    id_hash   text PRIMARY KEY,
    username  text        NOT NULL REFERENCES auth_user (username) ON DELETE CASCADE,
    expires   timestamptz NOT NULL
);

-- An authorization request between /auth/authorize and the redirect back (login, picker, consent).
CREATE TABLE auth_request (
    id_hash   text PRIMARY KEY,
    params    jsonb       NOT NULL,
    expires   timestamptz NOT NULL
);

-- EHR launch contexts (the opaque `launch` parameter).
CREATE TABLE auth_launch (
    id_hash   text PRIMARY KEY,
    client_id text,
    context   jsonb       NOT NULL,
    expires   timestamptz NOT NULL
);

-- Authorization codes: single use, short-lived, bound to client, redirect URI and PKCE challenge.
CREATE TABLE auth_code (
    code_hash     text PRIMARY KEY,
    grant_id      text        NOT NULL,
    client_id     text        NOT NULL,
    redirect_uri  text        NOT NULL,
    challenge     text        NOT NULL,
    data          jsonb       NOT NULL,
    expires       timestamptz NOT NULL,
    used          boolean     NOT NULL DEFAULT false
);

-- Refresh tokens: rotated on use (the used one is refused afterwards); a grant is all tokens of one authorization.
CREATE TABLE auth_refresh (
    token_hash    text PRIMARY KEY,
    grant_id      text        NOT NULL,
    client_id     text        NOT NULL,
    data          jsonb       NOT NULL,
    expires       timestamptz NOT NULL,
    used          boolean     NOT NULL DEFAULT false
);
CREATE INDEX auth_refresh_grant ON auth_refresh (grant_id);

-- Revoked access-token ids (jti) and grant ids, until the tokens would have expired anyway.
CREATE TABLE auth_revoked (
    id       text PRIMARY KEY,
    expires  timestamptz NOT NULL
);

-- Client-assertion ids seen (RFC 7523 jti replay protection).
CREATE TABLE auth_jti (
    client_id  text        NOT NULL,
    jti        text        NOT NULL,
    expires    timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
