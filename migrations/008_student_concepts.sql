-- 008_student_concepts.sql — a student's concept list per version (issue 16): a
-- version names the words its weight columns stand for, and what it was fitted on is
-- checked column by column, so a word added to the corpus (a new presence column)
-- no longer makes a student stale, while a recomputed column still does.

-- Per word of `words`, the SHA-256 (hex) of its presence column: the image ids blob's
-- hash (64 hex characters) followed by the column's N float32 values in image order
-- (presence_column_hashes, server/extraction/presence.h). column_sha256_of: the
-- presence_sha256 they were computed from; a matrix stored without them (before this
-- migration, or by hand) leaves them unknown until a student reads it.
ALTER TABLE extractions
    ADD COLUMN column_sha256    text[],
    ADD COLUMN column_sha256_of text CHECK (column_sha256_of ~ '^[0-9a-f]{64}$');

-- concepts: the version's words in weight-column order (its weights are (C, d) with
-- d = cardinality(concepts)). columns_sha256: concept_columns_sha256 of those words
-- when the version was made; NULL for versions made before this migration until
-- they are checked once against the presence matrix their student was distilled on.
ALTER TABLE student_versions
    ADD COLUMN concepts       text[],
    ADD COLUMN columns_sha256 text CHECK (columns_sha256 ~ '^[0-9a-f]{64}$');
UPDATE student_versions v SET concepts = s.concepts FROM students s WHERE s.id = v.student_id;
ALTER TABLE student_versions ALTER COLUMN concepts SET NOT NULL;

-- The hash of a concept list's columns under an extraction: SHA-256 of their column
-- hashes (hex) joined in the list's order; NULL when a word has no column or the
-- column hashes are unknown. server/student/student_problem.c computes the same.
CREATE FUNCTION concept_columns_sha256(concepts text[], words text[], hashes text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN count(h.hash) = cardinality(concepts)
                THEN encode(sha256(convert_to(string_agg(h.hash, '' ORDER BY c.ord), 'UTF8')), 'hex') END
    FROM unnest(concepts) WITH ORDINALITY AS c(word, ord)
    LEFT JOIN unnest(words, hashes) AS h(word, hash) ON h.word = c.word
$$;

-- Why student version v_id cannot be used on its data as they are now ('teacher
-- output' or 'presence matrix'), or NULL when it can. Its columns are compared one by
-- one when both sides know their hashes; else (a version from before this migration,
-- or a matrix whose column hashes are unknown) the whole presence matrix must still
-- be the one the student was distilled from.
CREATE FUNCTION student_version_stale(v_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN t.probs_sha256 IS DISTINCT FROM s.probs_sha256 THEN 'teacher output'
        WHEN v.columns_sha256 IS NOT NULL AND x.column_sha256_of = x.presence_sha256 THEN
            CASE WHEN v.columns_sha256 IS DISTINCT FROM concept_columns_sha256(v.concepts, x.words, x.column_sha256)
                 THEN 'presence matrix' END
        WHEN s.presence_sha256 IS DISTINCT FROM x.presence_sha256 THEN 'presence matrix'
    END
    FROM student_versions v JOIN students s ON s.id = v.student_id
    LEFT JOIN extractions x ON x.id = s.extraction_id
    LEFT JOIN teacher_outputs t ON t.id = s.teacher_output_id
    WHERE v.id = v_id
$$;
