-- 009_job_tasks.sql — chunk tasks: one job (an extraction, a teacher-outputs run)
-- split into pieces that any worker of any process claims (server/job_tasks.c).
-- The job that made them waits for them, works on them too, and assembles the
-- stored result in order; a task whose worker stops heart-beating is re-queued
-- (attempts left) or failed, and a failed task fails its job with the reason.
CREATE TABLE job_tasks (
    id           bigserial PRIMARY KEY,
    job_id       bigint NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx          integer NOT NULL CHECK (idx >= 0),  -- the chunk's place in the job's result
    params       jsonb NOT NULL DEFAULT '{}',        -- what the task computes (its image rows)
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    worker       text,                               -- host:pid:role of the last claimer
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 2 CHECK (max_attempts >= 1),
    heartbeat_at timestamptz,
    result       jsonb,                              -- the stage's answer (a blob's sha256, counts)
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    UNIQUE (job_id, idx)
);
CREATE INDEX job_tasks_queued ON job_tasks(job_id, idx) WHERE state = 'queued';
CREATE INDEX job_tasks_running ON job_tasks(heartbeat_at) WHERE state = 'running';
