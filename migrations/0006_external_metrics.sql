-- Metrics computed by clients: registered by name in their own namespace (ext:NAME), their
-- distances sent with PUT /v1/distances and stored in `distances` under that name like any other.
CREATE TABLE external_metrics (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT external_metrics_name_key UNIQUE
                CONSTRAINT external_metrics_name_check CHECK (name ~ '^ext:[a-z][a-z0-9_.-]{0,47}$'),
    description text NOT NULL,
    -- d(A, B) = d(B, A): its distances are stored once, lower id first.
    is_symmetric boolean NOT NULL,
    -- [{"name", "default", "range"}], as GET /v1/metrics lists a built-in metric's parameters.
    parameters  jsonb NOT NULL DEFAULT '[]'
                CONSTRAINT external_metrics_parameters_check CHECK (jsonb_typeof(parameters) = 'array'),
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
