-- Access control: API tokens, the audit trail of writes, and which token created each object.

-- A token reads sbk_<public_id>_<secret>. The public id finds the row; only the SHA-256 of the
-- secret is kept. Names stay taken after revocation, so audit rows and created_by stay unambiguous.
CREATE TABLE tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CONSTRAINT tokens_name_key UNIQUE,
    public_id     text NOT NULL CONSTRAINT tokens_public_id_key UNIQUE,
    secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
    scope         text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The token that created this one; NULL when made by `simbench token create` or at first start.
    created_by    text,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    -- Refreshed at most about once a minute, not on every request.
    last_used_at  timestamptz
);

-- Every write request of an authenticated caller, whatever its outcome.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_name text NOT NULL,
    method     text NOT NULL,
    -- The route pattern (e.g. /v1/models/{id}); NULL when no route matched.
    route      text,
    -- The path as requested, with its query string.
    path       text NOT NULL,
    status     smallint NOT NULL,
    request_id text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_token_idx ON audit_log (token_name, id);

-- The name of the token whose request created the row; NULL for rows older than access control.
ALTER TABLE datasets ADD COLUMN created_by text;
ALTER TABLE models ADD COLUMN created_by text;
ALTER TABLE representations ADD COLUMN created_by text;
ALTER TABLE scores ADD COLUMN created_by text;
ALTER TABLE comparisons ADD COLUMN created_by text;
