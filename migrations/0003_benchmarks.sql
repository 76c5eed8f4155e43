-- Benchmarks: a selection of representations, a score, a protocol and metrics; their results.

CREATE TABLE benchmarks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CONSTRAINT benchmarks_name_key UNIQUE,
    description   text,
    dataset_id    bigint NOT NULL REFERENCES datasets (id),
    -- {"models": [ids], "tags": [..], "metadata": {..}, "layers": [..], "include_derived": bool};
    -- an absent key does not restrict.
    selection     jsonb NOT NULL CHECK (jsonb_typeof(selection) = 'object'),
    score_name    text NOT NULL,
    protocol      jsonb NOT NULL,
    metrics       text[] NOT NULL CHECK (cardinality(metrics) > 0),
    bootstrap     jsonb,
    -- The comparison computing the distances of the current run.
    comparison_id bigint REFERENCES comparisons (id),
    -- Representations of the selection left out of the current run, and why.
    left_out      jsonb NOT NULL DEFAULT '[]',
    -- A score changed or a representation was added or deleted within the selection since the
    -- current run: the results describe the data as it was.
    stale         boolean NOT NULL DEFAULT false,
    published     boolean NOT NULL DEFAULT false,
    published_at  timestamptz,
    -- The results once every distance of the run exists (they can no longer change).
    results       jsonb,
    created_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    run_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX benchmarks_dataset_idx ON benchmarks (dataset_id);
CREATE INDEX benchmarks_published_idx ON benchmarks (id) WHERE published;

-- The representations of a benchmark's current run, as they were when it ran.
CREATE TABLE benchmark_members (
    benchmark_id      bigint NOT NULL REFERENCES benchmarks (id) ON DELETE CASCADE,
    representation_id bigint NOT NULL REFERENCES representations (id) ON DELETE CASCADE,
    score             double precision NOT NULL,
    group_key         jsonb NOT NULL,
    derived           boolean NOT NULL,
    PRIMARY KEY (benchmark_id, representation_id)
);
CREATE INDEX benchmark_members_representation_idx ON benchmark_members (representation_id);
