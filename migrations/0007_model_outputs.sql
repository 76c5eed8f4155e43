-- Model outputs: per model and dataset, the n x C logits the functional differences compare
-- (docs/PROTOCOLS.md, "Functional differences"), stored as a content-addressed blob like a
-- representation's matrix. Constraint names are part of the API: store::violation maps them.

CREATE TABLE model_outputs (
    model_id   bigint NOT NULL CONSTRAINT model_outputs_model_id_fkey REFERENCES models (id),
    dataset_id bigint NOT NULL CONSTRAINT model_outputs_dataset_id_fkey REFERENCES datasets (id),
    blob_id    bigint NOT NULL CONSTRAINT model_outputs_blob_id_fkey REFERENCES blobs (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The token whose request stored them.
    created_by text,
    CONSTRAINT model_outputs_pkey PRIMARY KEY (model_id, dataset_id)
);
CREATE INDEX model_outputs_dataset_idx ON model_outputs (dataset_id);
CREATE INDEX model_outputs_blob_idx ON model_outputs (blob_id);
