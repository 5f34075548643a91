-- 007_extraction_job_end.sql: an extraction whose job ends without running its own
-- failure path (the reaper failed it after its worker died on the last attempt, or it
-- was cancelled while queued) must not stay 'queued' or 'running' for ever. The
-- trigger covers every way a job row can end, so no code path can forget it.
CREATE FUNCTION extraction_job_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE extractions
       SET state = 'failed',
           error = coalesce(NEW.error, 'the extraction job was ' || NEW.state),
           updated_at = now()
     WHERE job_id = NEW.id AND state IN ('queued', 'running');
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_extraction_ended
    AFTER UPDATE OF state ON jobs
    FOR EACH ROW
    WHEN (NEW.state IN ('failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION extraction_job_ended();
