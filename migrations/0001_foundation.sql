-- Datasets, models, representations stored as chunked content-addressed blobs, and scores.
-- Constraint names are part of the API: src/error.rs maps them to client errors.

CREATE TABLE datasets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CONSTRAINT datasets_name_key UNIQUE,
    -- Fixed at creation or by the first upload; every representation has exactly this many rows.
    n_rows      bigint CHECK (n_rows > 0),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CONSTRAINT models_name_key UNIQUE,
    metadata   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    tags       text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX models_tags_idx ON models USING gin (tags);

-- A matrix in canonical form (stored dtype, little-endian, row-major), addressed by the SHA-256
-- of its .npy encoding. sha256 stays NULL while an upload is still writing chunks.
CREATE TABLE blobs (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256     bytea CONSTRAINT blobs_sha256_key UNIQUE CHECK (octet_length(sha256) = 32),
    dtype      text NOT NULL CHECK (dtype IN ('float16', 'float32', 'float64')),
    n_rows     bigint NOT NULL CHECK (n_rows > 0),
    n_cols     bigint NOT NULL CHECK (n_cols > 0),
    byte_len   bigint NOT NULL CHECK (byte_len > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Chunks of at most 8 MiB, so a matrix can exceed bytea's 1 GiB limit.
CREATE TABLE blob_chunks (
    blob_id bigint NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    seq     integer NOT NULL CHECK (seq >= 0),
    data    bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 8388608),
    PRIMARY KEY (blob_id, seq)
);
-- Float data does not compress; skip TOAST's compression attempt.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE representations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id   bigint NOT NULL CONSTRAINT representations_model_id_fkey REFERENCES models (id),
    dataset_id bigint NOT NULL REFERENCES datasets (id),
    layer      integer NOT NULL,
    layer_name text,
    blob_id    bigint NOT NULL REFERENCES blobs (id),
    -- Derived copies (made by the service) record where they come from and how.
    parent_id  bigint REFERENCES representations (id) ON DELETE CASCADE,
    transform  jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent_id IS NULL) = (transform IS NULL))
);
CREATE UNIQUE INDEX representations_identity_key
    ON representations (model_id, dataset_id, layer, coalesce(transform, 'null'::jsonb));
CREATE INDEX representations_dataset_idx ON representations (dataset_id, id);
CREATE INDEX representations_blob_idx ON representations (blob_id);
CREATE INDEX representations_parent_idx ON representations (parent_id);

-- A functionality score, attached to a representation or to a whole model.
CREATE TABLE scores (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    representation_id bigint CONSTRAINT scores_representation_id_fkey
                      REFERENCES representations (id) ON DELETE CASCADE,
    model_id          bigint CONSTRAINT scores_model_id_fkey REFERENCES models (id) ON DELETE CASCADE,
    name              text NOT NULL,
    value             double precision NOT NULL
                      CHECK (value <> 'NaN' AND value <> 'Infinity' AND value <> '-Infinity'),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(representation_id, model_id) = 1)
);
CREATE UNIQUE INDEX scores_representation_name_key ON scores (representation_id, name)
    WHERE representation_id IS NOT NULL;
CREATE UNIQUE INDEX scores_model_name_key ON scores (model_id, name)
    WHERE model_id IS NOT NULL;
