-- 006_students.sql — distilled students (SPEC steps 5-7): one per (teacher outputs,
-- presence extraction) fit, its immutable versions and the provenance log.

-- A student. presence_sha256 / probs_sha256: the matrices it was distilled from; when
-- the extraction or the teacher output is recomputed they differ from the current
-- ones and the student is stale (tuning refused, nothing stored). job_id: the
-- distillation job, unique so a re-run job finds its own student.
CREATE TABLE students (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    dataset_id        bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    teacher_output_id bigint NOT NULL REFERENCES teacher_outputs(id) ON DELETE CASCADE,
    extraction_id     bigint NOT NULL REFERENCES extractions(id) ON DELETE CASCADE,
    presence_sha256   text NOT NULL CHECK (presence_sha256 ~ '^[0-9a-f]{64}$'),
    probs_sha256      text NOT NULL CHECK (probs_sha256 ~ '^[0-9a-f]{64}$'),
    lambda            double precision NOT NULL CHECK (lambda >= 0),
    concepts          text[] NOT NULL,   -- (d) the presence columns at distillation
    classes           text[] NOT NULL,   -- (C) the dataset's classes
    job_id            bigint UNIQUE REFERENCES jobs(id) ON DELETE SET NULL,
    created_by        bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX students_dataset ON students(dataset_id);

-- An immutable version. weights_sha256: float32 (C, d) row-major blob; biases: (C)
-- JSON numbers (float32 values, printed round-trip exact); bounds_sha256: float32
-- (2, C, d) blob, lo then hi, +-inf for none (NULL: no bounds at all). measures:
-- {"splits": {split: summary}} (student_measures.h). number counts 1, 2, ... per
-- student; the head is the highest number.
CREATE TABLE student_versions (
    id             bigserial PRIMARY KEY,
    student_id     bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    number         integer NOT NULL CHECK (number > 0),
    parent_id      bigint REFERENCES student_versions(id) ON DELETE SET NULL,
    weights_sha256 text NOT NULL CHECK (weights_sha256 ~ '^[0-9a-f]{64}$'),
    biases         jsonb NOT NULL,
    bounds_sha256  text CHECK (bounds_sha256 ~ '^[0-9a-f]{64}$'),
    lambda         double precision NOT NULL CHECK (lambda >= 0),
    measures       jsonb NOT NULL,
    note           text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    author         bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (student_id, number)
);

-- What made each version, with every measure before (the parent's) and after.
CREATE TABLE student_provenance (
    id                bigserial PRIMARY KEY,
    student_id        bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    version_id        bigint NOT NULL REFERENCES student_versions(id) ON DELETE CASCADE,
    parent_version_id bigint REFERENCES student_versions(id) ON DELETE SET NULL,
    kind              text NOT NULL CHECK (kind IN ('distill', 'tune', 'restore')),
    actions           jsonb NOT NULL DEFAULT '[]',
    author            bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    measures_before   jsonb,
    measures_after    jsonb NOT NULL
);
CREATE INDEX student_provenance_page ON student_provenance(student_id, id DESC);
