-- The first schema: prompts, their candidates, append-only judgments and the audit trail.

CREATE TABLE prompts (
    prompt_id    VARCHAR PRIMARY KEY,   -- the file's `id`, else 'p_' + sha256(system, prompt)
    prompt       VARCHAR NOT NULL,
    system       VARCHAR,
    dimension    VARCHAR,
    language     VARCHAR,
    source       VARCHAR,               -- file it was imported from
    source_line  BIGINT,
    imported_at  TIMESTAMP NOT NULL
);

CREATE TABLE candidates (
    candidate_id VARCHAR PRIMARY KEY,   -- 'c_' + sha256(prompt_id, text): re-imports add nothing
    prompt_id    VARCHAR NOT NULL,
    position     INTEGER NOT NULL,      -- order of arrival for its prompt, from 1
    text         VARCHAR NOT NULL,
    origin       VARCHAR NOT NULL,      -- 'import' or 'generated'
    source       VARCHAR,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX candidates_by_prompt ON candidates (prompt_id);

-- Append-only: a revision is a new row whose `supersedes` names the row it replaces.
CREATE TABLE judgments (
    judgment_id        VARCHAR PRIMARY KEY,
    annotator          VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    kind               VARCHAR NOT NULL CHECK (kind IN ('ranked', 'skipped')),
    best_candidate_id  VARCHAR,
    worst_candidate_id VARCHAR,
    ranking            VARCHAR[],
    dimensions         VARCHAR[] NOT NULL,
    justification      VARCHAR,
    shown_order        VARCHAR[] NOT NULL,
    guideline_version  VARCHAR,
    seconds_spent      DOUBLE,
    supersedes         VARCHAR,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX judgments_by_annotator ON judgments (annotator, prompt_id);

-- The audit trail: each row carries the sha256 of the row before it (prev_hash) and its own.
CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor      VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,
    subject    VARCHAR,
    details    VARCHAR NOT NULL,        -- canonical JSON text, hashed byte for byte
    prev_hash  VARCHAR NOT NULL,
    row_hash   VARCHAR NOT NULL
);
