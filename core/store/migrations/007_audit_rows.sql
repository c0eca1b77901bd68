-- Rows vouched for by the audit trail: each row names the event that wrote it (event_seq), and
-- that event's details carry the count and sha256 of the rows it wrote, per table (see
-- core/store/audit_rows.py). Rows stored before this migration are adopted, in the same
-- transaction, by one `audit.adopt` event. Derived tables (pairs, pair_builds) are not covered:
-- every pair build replaces them.

DROP VIEW current_judgments;

ALTER TABLE prompts ADD COLUMN event_seq BIGINT;
ALTER TABLE candidates ADD COLUMN event_seq BIGINT;
ALTER TABLE judgments ADD COLUMN event_seq BIGINT;
ALTER TABLE judgment_rankings ADD COLUMN event_seq BIGINT;
ALTER TABLE pairwise_judgments ADD COLUMN event_seq BIGINT;
ALTER TABLE adjudications ADD COLUMN event_seq BIGINT;
ALTER TABLE flags ADD COLUMN event_seq BIGINT;
ALTER TABLE flag_resolutions ADD COLUMN event_seq BIGINT;
ALTER TABLE assignments ADD COLUMN event_seq BIGINT;
ALTER TABLE gold_items ADD COLUMN event_seq BIGINT;
ALTER TABLE runs ADD COLUMN event_seq BIGINT;
ALTER TABLE generations ADD COLUMN event_seq BIGINT;
ALTER TABLE balance_plans ADD COLUMN event_seq BIGINT;

-- The view of migration 006, re-created over the judgments table as it now is; it lists the
-- judgment's own columns (not event_seq), so `SELECT *` from it keeps its shape.
CREATE VIEW current_judgments AS
SELECT judgment_id, annotator, prompt_id, kind, best_candidate_id, worst_candidate_id, ranking,
       dimensions, justification, shown_order, guideline_version, seconds_spent, supersedes,
       created_at
FROM judgments j
WHERE NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.judgment_id);
