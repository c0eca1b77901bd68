-- Outcomes without a preference: an annotator may record "no meaningful difference" or "cannot
-- judge" (with the reason in `justification`) instead of a choice. Such a judgment yields no
-- pair and counts in agreement as an outcome of its own. DuckDB cannot alter a CHECK
-- constraint, so the table is re-created with the same columns, rows, indexes and view.

DROP VIEW current_judgments;
DROP INDEX judgments_by_annotator;
DROP INDEX judgments_by_prompt;
DROP INDEX judgments_by_event;

CREATE TABLE judgments_009 (
    judgment_id        VARCHAR PRIMARY KEY,
    annotator          VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    kind               VARCHAR NOT NULL
                       CHECK (kind IN ('ranked', 'skipped', 'no_difference', 'cannot_judge')),
    best_candidate_id  VARCHAR,
    worst_candidate_id VARCHAR,
    ranking            VARCHAR[],
    dimensions         VARCHAR[] NOT NULL,
    justification      VARCHAR,
    shown_order        VARCHAR[] NOT NULL,
    guideline_version  VARCHAR,
    seconds_spent      DOUBLE,
    supersedes         VARCHAR,
    created_at         TIMESTAMP NOT NULL,
    event_seq          BIGINT
);
INSERT INTO judgments_009 SELECT * FROM judgments;
DROP TABLE judgments;
ALTER TABLE judgments_009 RENAME TO judgments;

CREATE INDEX judgments_by_annotator ON judgments (annotator, prompt_id);
CREATE INDEX judgments_by_prompt ON judgments (prompt_id);
CREATE INDEX judgments_by_event ON judgments (event_seq);

CREATE VIEW current_judgments AS
SELECT judgment_id, annotator, prompt_id, kind, best_candidate_id, worst_candidate_id, ranking,
       dimensions, justification, shown_order, guideline_version, seconds_spent, supersedes,
       created_at
FROM judgments j
WHERE NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.judgment_id);
