-- 005_projects.sql — projects: the parts one distillation works on (a dataset, a
-- teacher with its outputs on that dataset, a concept model, a corpus and the
-- concept extraction of the three). The demo build creates the project "demo".

-- Deleting a part deletes the projects built on it (a project without its dataset or
-- models means nothing); a deleted teacher output only clears the pointer.
-- extraction_id names a row of `extractions` (004) but has no foreign key: that
-- table is reset and re-run by its own job, and readiness is looked up by the
-- (dataset, concept model, corpus) triple anyway, so a stale id only goes unused.
CREATE TABLE projects (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    dataset_id        bigint NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    teacher_model_id  bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    teacher_output_id bigint REFERENCES teacher_outputs(id) ON DELETE SET NULL,
    concept_model_id  bigint NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    corpus_id         bigint NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    extraction_id     bigint,
    is_demo           boolean NOT NULL DEFAULT false,
    created_by        bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_dataset ON projects(dataset_id);
