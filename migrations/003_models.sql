-- 003_models.sql — registered models and the teacher outputs computed or uploaded
-- for a dataset.

-- A model folder, copied under <data_dir>/<dir> at registration and checked there
-- (manifest, load, one probe batch per method; summary is that check's report).
CREATE TABLE models (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    kind       text NOT NULL CHECK (kind IN ('teacher', 'concept')),
    encoder    text CHECK (encoder IN ('dense', 'global')),   -- concept models only
    manifest   jsonb NOT NULL,
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'), -- of the TorchScript file
    dir        text NOT NULL,                                 -- relative to the data folder
    summary    jsonb NOT NULL,
    created_by bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'concept') = (encoder IS NOT NULL))
);

-- A teacher's probabilities for every image of a dataset: blobs in the blob store,
-- float32 (n, classes) row-major little-endian (probs_sha256) and int64 image ids,
-- ascending (image_ids_sha256). Columns follow the dataset's class list. One row per
-- (dataset, model) for computed outputs; one per (dataset, name) for predictions files.
CREATE TABLE teacher_outputs (
    id               bigserial PRIMARY KEY,
    dataset_id       bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    model_id         bigint REFERENCES models(id) ON DELETE CASCADE,
    source           text NOT NULL CHECK (source IN ('model', 'file')),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    classes          integer NOT NULL CHECK (classes > 0),
    n                integer NOT NULL CHECK (n > 0),
    probs_sha256     text NOT NULL CHECK (probs_sha256 ~ '^[0-9a-f]{64}$'),
    image_ids_sha256 text NOT NULL CHECK (image_ids_sha256 ~ '^[0-9a-f]{64}$'),
    logit_rows       integer NOT NULL DEFAULT 0,  -- file rows given as logits (softmaxed here)
    job_id           bigint REFERENCES jobs(id) ON DELETE SET NULL,
    created_by       bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((source = 'model') = (model_id IS NOT NULL)),
    UNIQUE (dataset_id, model_id)
);
CREATE UNIQUE INDEX teacher_outputs_file ON teacher_outputs(dataset_id, name) WHERE source = 'file';
CREATE INDEX teacher_outputs_model ON teacher_outputs(model_id);
