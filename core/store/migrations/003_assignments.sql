-- Work distribution: which annotator gets which prompt. Rows are never deleted: freeing an
-- annotator's open items sets released_at, so the history of who had what stays.

CREATE TABLE assignments (
    prompt_id    VARCHAR NOT NULL,
    annotator    VARCHAR NOT NULL,
    batch_id     VARCHAR NOT NULL,      -- one `prefer assign` call
    assigned_by  VARCHAR NOT NULL,
    assigned_at  TIMESTAMP NOT NULL,
    released_at  TIMESTAMP
);
CREATE INDEX assignments_by_annotator ON assignments (annotator, prompt_id);
