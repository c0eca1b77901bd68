-- Dataset quality: languages of candidates, the pairs of the latest build with the filter that
-- dropped each, the history of builds, and balance plans that every later build re-applies.

-- 'given' when the import file named the prompt's language, 'detected' when py3langid found
-- it; NULL for rows stored before this migration (detected on the next `prefer pairs`).
ALTER TABLE prompts ADD COLUMN language_source VARCHAR;
-- Detected at import or generation (ISO 639-1, or 'und' when the text is too short to tell).
ALTER TABLE candidates ADD COLUMN language VARCHAR;

-- The pairs of the latest build (a build replaces them all). status is 'kept' or why the
-- pair was dropped: empty, encoding, truncated, near_identical, language_mismatch,
-- duplicate, contradiction, balanced_out.
CREATE TABLE pairs (
    pair_id            VARCHAR PRIMARY KEY,   -- 'pr_' + sha256(prompt_id, chosen_id, rejected_id)
    build_id           VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    chosen_id          VARCHAR NOT NULL,
    rejected_id        VARCHAR NOT NULL,
    chosen_pos         INTEGER NOT NULL,
    rejected_pos       INTEGER NOT NULL,
    dimension          VARCHAR NOT NULL,
    language           VARCHAR NOT NULL,      -- the prompt's, 'und' when unknown
    decision           VARCHAR NOT NULL,      -- 'adjudicated' or 'unanimous'
    agreement          DOUBLE NOT NULL,       -- share of the item's annotators implying the pair
    similarity         DOUBLE,                -- chosen vs rejected, 0..1 (NULL: never compared)
    prompt_group       VARCHAR NOT NULL,      -- near-duplicate prompts share one (the split unit)
    judged_at          TIMESTAMP,             -- latest judgment or adjudication behind the pair
    guideline_version  VARCHAR,               -- guidelines.md hash of the earliest judgment
    status             VARCHAR NOT NULL
);
CREATE INDEX pairs_by_prompt ON pairs (prompt_id);

CREATE TABLE pair_builds (
    build_id    VARCHAR PRIMARY KEY,
    built_by    VARCHAR NOT NULL,
    built_at    TIMESTAMP NOT NULL,
    strategy    VARCHAR NOT NULL,
    settings    VARCHAR NOT NULL,             -- JSON: thresholds, balance plan applied
    counts      VARCHAR NOT NULL              -- JSON: pairs kept, dropped per filter, held back
);

-- `prefer balance --apply`: the targets every later build downsamples to, until cleared.
CREATE TABLE balance_plans (
    plan_id     VARCHAR PRIMARY KEY,
    applied_by  VARCHAR NOT NULL,
    applied_at  TIMESTAMP NOT NULL,
    balance_by  VARCHAR NOT NULL,             -- dimension, language or source
    targets     VARCHAR,                      -- JSON {value: share}; NULL: the plan was cleared
    seed        INTEGER NOT NULL
);
