-- 002_datasets.sql — datasets and the metadata of their images. The image bytes
-- live in the content-addressed blob store (<data_dir>/blobs, named by sha256).

CREATE TABLE datasets (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
    description text NOT NULL DEFAULT '',
    classes     text[] NOT NULL DEFAULT '{}',   -- ordered: a label is an index into it
    created_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per distinct image content per dataset: importing the same bytes again
-- (same or another source) adds nothing, which is what makes imports re-runnable.
CREATE TABLE images (
    id          bigserial PRIMARY KEY,
    dataset_id  bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    split       text NOT NULL CHECK (split ~ '^[a-z0-9_-]{1,32}$'),
    label       integer CHECK (label >= 0),     -- NULL: unlabelled
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    bytes       bigint NOT NULL CHECK (bytes >= 0),
    source_name text NOT NULL DEFAULT '',       -- tar member / file path / "<idx file>#<index>"
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, sha256)
);
-- Gallery paging: whole dataset, by split, by split and label, by label.
CREATE INDEX images_dataset_page ON images(dataset_id, id);
CREATE INDEX images_split_label_page ON images(dataset_id, split, label, id);
CREATE INDEX images_label_page ON images(dataset_id, label, id);
-- Which datasets use a blob (a future blob sweeper asks this).
CREATE INDEX images_sha256 ON images(sha256);
