-- Flat latency for an annotator's work (core/store/work.py): every prompt's place in import
-- order and whether it is ready (2 or more candidates), so the next item is found by reading a
-- small stretch of places instead of sorting and grouping the whole project on every item
-- (next item and progress cost 50-120 ms at 100,000 prompts before, whatever the queue).
--
-- Derived from prompts and candidates, like pairs: not covered by the audit trail, kept up to
-- date inside every write that stores prompts or candidates, rebuilt whole by work.rebuild.
-- Rows are written in `ord` order, so a range of places reads a stretch of the table (zone
-- maps). No key on it: a rebuild deletes and inserts every row in one transaction.
CREATE TABLE work_order (
    prompt_id  VARCHAR NOT NULL,
    ord        BIGINT NOT NULL,      -- 1..n by imported_at, source, source_line, prompt_id
    ready      BOOLEAN NOT NULL      -- 2 or more candidates: shown to annotators
);
INSERT INTO work_order
SELECT p.prompt_id, row_number() OVER (ORDER BY p.imported_at, p.source, p.source_line,
                                               p.prompt_id),
       coalesce(c.n, 0) >= 2
FROM prompts p
LEFT JOIN (SELECT prompt_id, count(*) AS n FROM candidates GROUP BY prompt_id) c
       ON c.prompt_id = p.prompt_id
ORDER BY 2;

-- An item's place and readiness by its id (a skipped item's place, a new prompt's check).
CREATE INDEX work_order_by_prompt ON work_order (prompt_id);

