-- 001_foundation.sql — users, API tokens, browser sessions and the job queue.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.-]{1,64}$'),
    role          text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    password_hash text,                     -- Argon2id string; NULL: token login only
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,      -- hex SHA-256 of the token; the token is never stored
    prefix       text NOT NULL,             -- first characters, to tell tokens apart in lists
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE sessions (
    id_hash    text PRIMARY KEY,            -- hex SHA-256 of the cookie value
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- Long work. Workers claim queued rows with FOR UPDATE SKIP LOCKED, prove they are
-- alive through heartbeat_at, and a reaper re-queues or fails rows whose worker died.
CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    message          text NOT NULL DEFAULT '',
    error            text,
    result           jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 2,
    cancel_requested boolean NOT NULL DEFAULT false,
    worker           text,
    created_by       bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    heartbeat_at     timestamptz,
    seq              bigint NOT NULL DEFAULT 1   -- bumped on every change; long-poll cursor
);
CREATE INDEX jobs_queued ON jobs(id) WHERE state = 'queued';
CREATE INDEX jobs_running ON jobs(heartbeat_at) WHERE state = 'running';
CREATE INDEX jobs_created ON jobs(created_at DESC);

-- Every change bumps seq and wakes long-poll waiters in any process (LISTEN inficond_jobs).
CREATE FUNCTION jobs_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- A heartbeat alone changes nothing a watcher sees: no bump, no wake-up.
        IF (NEW.state, NEW.progress, NEW.message, NEW.error, NEW.result, NEW.cancel_requested,
            NEW.attempts)
           IS NOT DISTINCT FROM
           (OLD.state, OLD.progress, OLD.message, OLD.error, OLD.result, OLD.cancel_requested,
            OLD.attempts) THEN
            RETURN NEW;
        END IF;
        NEW.seq := OLD.seq + 1;
    END IF;
    PERFORM pg_notify('inficond_jobs', NEW.id::text);
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_touch BEFORE INSERT OR UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_touch();
