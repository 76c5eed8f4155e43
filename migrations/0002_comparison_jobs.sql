-- Distances, the comparison jobs that compute them, and the comparisons that ask for them.

-- One computed value per (metric, rep_a, rep_b), cached forever. Symmetric metrics are stored with
-- rep_a < rep_b; an asymmetric one (pwcca) in the order asked, rep_a being its first argument.
-- A metric that refuses a pair (e.g. the CCA family with n <= d) records why instead of a value.
CREATE TABLE distances (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metric          text NOT NULL,
    rep_a           bigint NOT NULL REFERENCES representations (id) ON DELETE CASCADE,
    rep_b           bigint NOT NULL REFERENCES representations (id) ON DELETE CASCADE,
    value           double precision,
    refusal         text,
    compute_seconds double precision NOT NULL DEFAULT 0,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT distances_key UNIQUE (metric, rep_a, rep_b),
    CHECK ((value IS NULL) <> (refusal IS NULL))
);
CREATE INDEX distances_rep_a_idx ON distances (rep_a);
CREATE INDEX distances_rep_b_idx ON distances (rep_b);

-- One pair of representations and the metrics still to compute for it. Jobs outlive their
-- representations (set to NULL, the job cancelled) so a comparison's history stays readable.
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rep_a            bigint REFERENCES representations (id) ON DELETE SET NULL,
    rep_b            bigint REFERENCES representations (id) ON DELETE SET NULL,
    metrics          text[] NOT NULL CHECK (cardinality(metrics) > 0),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    run_after        timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    worker           text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CHECK ((status = 'running') = (lease_expires_at IS NOT NULL))
);
CREATE INDEX jobs_queued_idx ON jobs (run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_running_idx ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_status_idx ON jobs (status, id);
CREATE INDEX jobs_rep_a_idx ON jobs (rep_a);
CREATE INDEX jobs_rep_b_idx ON jobs (rep_b);

-- A request for distances: the pairs and metrics asked, and the jobs computing what was missing.
CREATE TABLE comparisons (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metrics     text[] NOT NULL,
    n_pairs     integer NOT NULL CHECK (n_pairs >= 0),
    -- Pairs whose distances all existed, or were being computed for someone else, when asked.
    n_known     integer NOT NULL CHECK (n_known >= 0),
    cancelled   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Jobs are shared: a comparison asking for a pair already queued by another links that job.
CREATE TABLE comparison_jobs (
    comparison_id bigint NOT NULL REFERENCES comparisons (id) ON DELETE CASCADE,
    job_id        bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (comparison_id, job_id)
);
CREATE INDEX comparison_jobs_job_idx ON comparison_jobs (job_id);
