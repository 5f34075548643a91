-- 004_concepts.sql — concept corpora, word embeddings per concept model, stored
-- segments per (dataset, concept model) and concept-presence extractions.

-- A named, ordered list of concept words. version goes up on every word change, so
-- an extraction knows whether its presence matrix is current.
CREATE TABLE corpora (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    version    integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_by bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Words in corpus order (position ascending; gaps after removals are fine).
CREATE TABLE corpus_words (
    corpus_id bigint NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    position  integer NOT NULL,
    word      text NOT NULL CHECK (length(word) BETWEEN 1 AND 128),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (corpus_id, word),
    UNIQUE (corpus_id, position)
);

-- A word embedded once per concept model through its text method: float32 (dim),
-- little-endian, as the model returned it (normalised where used).
CREATE TABLE concept_embeddings (
    model_id  bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    word      text NOT NULL,
    dim       integer NOT NULL CHECK (dim > 0),
    embedding bytea NOT NULL CHECK (length(embedding) = 4 * dim),
    PRIMARY KEY (model_id, word)
);

-- The segments of a run of a dataset's images (ascending id) under one concept
-- model: a segment-store blob (segment_store.h). They do not depend on any corpus,
-- so every extraction over the same dataset and model shares them, and a re-run
-- skips a chunk whose exact image range is already stored. failures: the images of
-- the chunk that could not be read ([{image_id, reason}]); they have no segments.
CREATE TABLE segment_chunks (
    id             bigserial PRIMARY KEY,
    dataset_id     bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    model_id       bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    first_image_id bigint NOT NULL,
    last_image_id  bigint NOT NULL,
    n              integer NOT NULL CHECK (n > 0),
    segments       bigint NOT NULL CHECK (segments >= 0),
    sha256         text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    failures       jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, model_id, first_image_id, last_image_id, n)
);

-- Concept presence of a dataset under a concept model and a corpus. Blobs: presence
-- float32 (n_images, d) row-major (rows: image_ids_sha256, an int64 (n_images)
-- ascending; columns: words, the corpus order at corpus_version). chunks / chunk_sizes:
-- the segment blobs, in image order. galleries: {word: [[image_id, segment, score]...]}
-- best first, at most top_k each.
CREATE TABLE extractions (
    id               bigserial PRIMARY KEY,
    dataset_id       bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    concept_model_id bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    corpus_id        bigint NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    corpus_version   integer NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'ready', 'failed')),
    error            text,
    encoder          text CHECK (encoder IN ('dense', 'global')),
    n_images         integer NOT NULL DEFAULT 0,
    d                integer NOT NULL DEFAULT 0,     -- concepts (columns)
    embedding_dim    integer NOT NULL DEFAULT 0,
    words            text[] NOT NULL DEFAULT '{}',
    presence_sha256  text CHECK (presence_sha256 ~ '^[0-9a-f]{64}$'),
    image_ids_sha256 text CHECK (image_ids_sha256 ~ '^[0-9a-f]{64}$'),
    chunks           text[] NOT NULL DEFAULT '{}',
    chunk_sizes      integer[] NOT NULL DEFAULT '{}',
    galleries        jsonb NOT NULL DEFAULT '{}',
    n_failed         integer NOT NULL DEFAULT 0,
    job_id           bigint REFERENCES jobs(id) ON DELETE SET NULL,
    created_by       bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, concept_model_id, corpus_id)
);
CREATE INDEX extractions_corpus ON extractions(corpus_id);

-- Images an extraction could not use (reported, skipped: their presence row is 0).
CREATE TABLE extraction_failures (
    extraction_id bigint NOT NULL REFERENCES extractions(id) ON DELETE CASCADE,
    image_id      bigint NOT NULL,
    reason        text NOT NULL,
    PRIMARY KEY (extraction_id, image_id)
);
