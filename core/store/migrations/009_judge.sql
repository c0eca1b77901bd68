-- The local judge (core/judge.py): its runs, its request log and its verdicts, kept apart from
-- everything annotators write. No view or query that builds pairs, agreement between humans or an
-- annotator's screen reads these tables; only reviewers and admins can read them (core/store/api.py).

CREATE TABLE judge_runs (
    judge_run_id    VARCHAR PRIMARY KEY,
    actor           VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,
    hosts           VARCHAR[] NOT NULL,
    concurrency     INTEGER NOT NULL,
    prompt_version  VARCHAR NOT NULL,      -- the judge prompt and schema's version (core/judge.py)
    settings        VARCHAR NOT NULL,      -- JSON: digests, options, attempts, pid, guideline version
    planned         INTEGER NOT NULL,      -- items the run set out to judge
    skipped         INTEGER NOT NULL,      -- items already judged with this model and prompt
    succeeded       INTEGER,               -- NULL until the run ends
    failed          INTEGER,
    status          VARCHAR NOT NULL,      -- running, done, interrupted
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    event_seq       BIGINT
);

-- One row per request (an item in one display order): what was sent and what came back.
CREATE TABLE judge_requests (
    request_id         VARCHAR PRIMARY KEY,
    verdict_id         VARCHAR NOT NULL,   -- the item verdict it is half of
    judge_run_id       VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    order_index        INTEGER NOT NULL,   -- 0: stored order, 1: reversed
    shown_order        VARCHAR[] NOT NULL, -- candidate ids as labelled A, B, C, ...
    model              VARCHAR NOT NULL,
    model_digest       VARCHAR,
    host               VARCHAR,
    status             VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    error              VARCHAR,
    attempts           INTEGER NOT NULL,
    system             VARCHAR NOT NULL,   -- the exact system prompt sent
    options            VARCHAR NOT NULL,   -- JSON: the exact options sent
    reply              VARCHAR,            -- the raw reply of the last attempt
    scores             INTEGER[],          -- 1-10 per shown candidate (status ok)
    dimensions         VARCHAR[],
    reason             VARCHAR,
    prompt_eval_count  INTEGER,
    eval_count         INTEGER,
    total_duration_ns  BIGINT,
    latency_s          DOUBLE,
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP NOT NULL,
    event_seq          BIGINT
);

-- One row per item judged: both orders combined (or why it failed).
CREATE TABLE judge_verdicts (
    verdict_id         VARCHAR PRIMARY KEY,
    judge_run_id       VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    model              VARCHAR NOT NULL,
    model_digest       VARCHAR,
    prompt_version     VARCHAR NOT NULL,
    guideline_version  VARCHAR,
    candidates_key     VARCHAR NOT NULL,   -- sha256 of the sorted candidate ids judged
    status             VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    error              VARCHAR,
    candidate_ids      VARCHAR[] NOT NULL, -- stored order
    scores             DOUBLE[],           -- mean score of both orders, per candidate_ids
    best_candidate_id  VARCHAR,            -- NULL when the top score is tied
    worst_candidate_id VARCHAR,            -- NULL when the bottom score is tied
    margin             DOUBLE,             -- (top - runner-up mean score) / 9: 0 unsure .. 1 obvious
    orders_agree       BOOLEAN,            -- both orders chose the same best and worst
    dimensions         VARCHAR[],
    created_at         TIMESTAMP NOT NULL,
    event_seq          BIGINT
);
CREATE INDEX judge_verdicts_by_prompt ON judge_verdicts (prompt_id);
