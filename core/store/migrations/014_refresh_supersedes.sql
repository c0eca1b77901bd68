-- `prefer refresh --to ANNOTATOR`: the decision another annotator is asked to re-make is
-- superseded once they make it. An item's current decision is then the latest judgment made
-- under the refresh; the stale one stays in `judgments` (and the audit trail), no longer current.
--
-- A stale judgment is superseded by the refresh when a request on it went to someone other than
-- its author and that annotator has since decided the item (a ranking, or "no meaningful
-- difference"; a skip or "cannot judge" leaves the old decision in force). A request to the
-- author needs no rule here: their new judgment supersedes their old one as any revision does.
-- Both sides are first narrowed to the requests' items and stale judgments (refresh_requests is
-- small), so the view costs little more than before while no refresh is open.
CREATE VIEW refresh_superseded AS
WITH asked AS (SELECT request_id, prompt_id, annotator, stale_judgment_id, requested_at
               FROM refresh_requests),
     stale AS (SELECT judgment_id, annotator FROM judgments
               WHERE judgment_id IN (SELECT stale_judgment_id FROM asked)),
     answers AS (SELECT prompt_id, annotator, created_at FROM judgments
                 WHERE kind IN ('ranked', 'no_difference')
                   AND prompt_id IN (SELECT prompt_id FROM asked))
SELECT DISTINCT q.stale_judgment_id AS judgment_id
FROM asked q
JOIN stale o ON o.judgment_id = q.stale_judgment_id AND o.annotator <> q.annotator
JOIN answers n ON n.prompt_id = q.prompt_id AND n.annotator = q.annotator
              AND n.created_at > q.requested_at;

DROP VIEW current_judgments;
CREATE VIEW current_judgments AS
SELECT judgment_id, annotator, prompt_id, kind, best_candidate_id, worst_candidate_id, ranking,
       dimensions, justification, shown_order, guideline_version, seconds_spent, supersedes,
       created_at
FROM judgments j
WHERE NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.judgment_id)
  AND j.judgment_id NOT IN (SELECT judgment_id FROM refresh_superseded);
