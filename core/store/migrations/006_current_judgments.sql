-- The "current judgment" rule, stated once: an annotator's judgment of an item is current until
-- a later row supersedes it. Every query that means "what the annotators say now" reads this
-- view. A migration that changes the judgments table must re-create the view after it.
CREATE VIEW current_judgments AS
SELECT * FROM judgments j
WHERE NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.judgment_id);
