-- Generation runs through Ollama: one row per run, one row per request outcome (the run log).

CREATE TABLE runs (
    run_id        VARCHAR PRIMARY KEY,
    actor         VARCHAR NOT NULL,
    model         VARCHAR NOT NULL,
    hosts         VARCHAR[] NOT NULL,
    variants      VARCHAR[] NOT NULL,
    concurrency   INTEGER NOT NULL,
    settings      VARCHAR NOT NULL,      -- JSON: variants in full, limit, force, retries
    planned       INTEGER NOT NULL,      -- requests the run set out to make
    skipped       INTEGER NOT NULL,      -- (prompt, variant, model) already done before it
    succeeded     INTEGER,               -- NULL until the run ends
    failed        INTEGER,
    status        VARCHAR NOT NULL,      -- running, done, interrupted
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP
);

CREATE TABLE generations (
    generation_id      VARCHAR PRIMARY KEY,
    run_id             VARCHAR NOT NULL,
    prompt_id          VARCHAR NOT NULL,
    variant            VARCHAR NOT NULL,
    model              VARCHAR NOT NULL,
    model_digest       VARCHAR,
    host               VARCHAR,
    status             VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    error              VARCHAR,
    attempts           INTEGER NOT NULL,
    candidate_id       VARCHAR,          -- the candidate it produced (status ok)
    system             VARCHAR,          -- the exact system prompt sent
    options            VARCHAR NOT NULL, -- JSON: the exact options sent (temperature, seed, ...)
    done_reason        VARCHAR,
    truncated          BOOLEAN NOT NULL,
    prompt_eval_count  INTEGER,
    eval_count         INTEGER,
    total_duration_ns  BIGINT,
    load_duration_ns   BIGINT,
    prompt_eval_duration_ns BIGINT,
    eval_duration_ns   BIGINT,
    latency_s          DOUBLE,
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP NOT NULL
);
CREATE INDEX generations_by_key ON generations (prompt_id, variant, model);
