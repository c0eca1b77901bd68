-- Preference signal from other systems (core/store/sources/): multi-turn prompts, and the
-- preferences an imported source implies, with where each came from and how strong it is.

-- A multi-turn prompt keeps its last user turn in `prompt` (what every reader already shows and
-- exports) and the turns before it here, oldest first; NULL for a single-turn prompt. The
-- system prompt stays in `system`.
ALTER TABLE prompts ADD COLUMN turns STRUCT(role VARCHAR, content VARCHAR)[];

-- A preference an imported source implies (chosen > rejected on one prompt): a pre-label shown
-- to experts, or (trusted) also a judgment by the annotator 'source:<kind>'.
CREATE TABLE source_preferences (
    preference_id  VARCHAR PRIMARY KEY,   -- content-derived: re-importing adds nothing
    kind           VARCHAR NOT NULL,      -- the import kind: feedback, abtest, corrections, ...
    prompt_id      VARCHAR NOT NULL,
    chosen_id      VARCHAR NOT NULL,
    rejected_id    VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,      -- the file, as the importer named it
    source_line    BIGINT NOT NULL,       -- the line (row) that implied it first
    p_value        DOUBLE,                -- abtest: the test's p-value
    score_gap      DOUBLE,                -- ratings: chosen's score minus rejected's
    reviewer       VARCHAR,               -- ratings: the reviewer; corrections: the corrector
    signal         VARCHAR,               -- feedback: up-down, regenerated, edited
    trusted        BOOLEAN NOT NULL,      -- imported with --trust (also a source judgment)
    created_at     TIMESTAMP NOT NULL,
    event_seq      BIGINT
);
CREATE INDEX source_preferences_by_prompt ON source_preferences (prompt_id);

-- `prefer refresh`: an item re-queued for an annotator because a decision on it is stale (older
-- than a date, or made under earlier guidelines). Open until that annotator judges the item
-- again after `requested_at`; their new judgment supersedes their old one.
CREATE TABLE refresh_requests (
    request_id         VARCHAR PRIMARY KEY,
    prompt_id          VARCHAR NOT NULL,
    annotator          VARCHAR NOT NULL,   -- who is asked to judge it again
    stale_judgment_id  VARCHAR NOT NULL,   -- the decision found stale
    reason             VARCHAR NOT NULL,   -- 'older than 2026-01-01', 'guidelines before g-…'
    requested_by       VARCHAR NOT NULL,
    requested_at       TIMESTAMP NOT NULL,
    event_seq          BIGINT
);
CREATE INDEX refresh_requests_by_annotator ON refresh_requests (annotator, prompt_id);
