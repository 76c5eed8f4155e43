-- Dashboard sessions: a browser that logged in with a token holds a random session id in a
-- cookie; only its SHA-256 is kept. A session lasts 12 hours and ends with its token.
CREATE TABLE ui_sessions (
    id_sha256  bytea PRIMARY KEY CHECK (octet_length(id_sha256) = 32),
    token_id   bigint NOT NULL REFERENCES tokens (id),
    -- Sent back by every form that changes something; compared with the submitted one.
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL DEFAULT now() + interval '12 hours'
);
CREATE INDEX ui_sessions_token_idx ON ui_sessions (token_id);
