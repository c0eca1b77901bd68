-- Agreement and adjudication: rankings with ties, pairwise labels from other tools, reviewers'
-- decisions, annotators' flags and calibration (gold) items.

-- Rank-mode judgments: the ranking as groups, best first; candidates in one group are tied.
CREATE TABLE judgment_rankings (
    judgment_id  VARCHAR PRIMARY KEY,
    groups       VARCHAR[][] NOT NULL
);

-- Labels made elsewhere that compare two candidates: which one the annotator preferred.
CREATE TABLE pairwise_judgments (
    pairwise_id          VARCHAR PRIMARY KEY,   -- content-derived: re-importing adds nothing
    annotator            VARCHAR NOT NULL,
    prompt_id            VARCHAR NOT NULL,
    first_candidate_id   VARCHAR NOT NULL,
    second_candidate_id  VARCHAR NOT NULL,
    winner               VARCHAR NOT NULL CHECK (winner IN ('first', 'second', 'tie')),
    dimensions           VARCHAR[] NOT NULL,
    justification        VARCHAR,
    source               VARCHAR,
    created_at           TIMESTAMP NOT NULL
);

-- A reviewer's decision on an item annotators disagree on; the latest one per item counts.
CREATE TABLE adjudications (
    adjudication_id     VARCHAR PRIMARY KEY,
    prompt_id           VARCHAR NOT NULL,
    reviewer            VARCHAR NOT NULL,
    best_candidate_id   VARCHAR,
    worst_candidate_id  VARCHAR,
    groups              VARCHAR[][],            -- a full ranking instead of best/worst
    note                VARCHAR NOT NULL,       -- why: required
    guideline_change    VARCHAR,                -- a guideline the note cites or proposes
    supersedes          VARCHAR,
    created_at          TIMESTAMP NOT NULL
);

-- An annotator's flag on an item (broken prompt, unjudgeable candidates); open until resolved.
CREATE TABLE flags (
    flag_id      VARCHAR PRIMARY KEY,
    annotator    VARCHAR NOT NULL,
    prompt_id    VARCHAR NOT NULL,
    note         VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE TABLE flag_resolutions (
    flag_id      VARCHAR PRIMARY KEY,
    resolved_by  VARCHAR NOT NULL,
    resolution   VARCHAR NOT NULL,
    resolved_at  TIMESTAMP NOT NULL
);

-- Calibration items: the expected answer, set by an admin; mixed into queues unmarked.
CREATE TABLE gold_items (
    prompt_id           VARCHAR PRIMARY KEY,
    best_candidate_id   VARCHAR NOT NULL,
    worst_candidate_id  VARCHAR,
    note                VARCHAR,
    marked_by           VARCHAR NOT NULL,
    marked_at           TIMESTAMP NOT NULL
);
