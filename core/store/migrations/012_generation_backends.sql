-- Generation through several APIs (core/backends): each request records the backend its host
-- speaks ("ollama", "openai") beside the host itself. NULL in rows written before this
-- migration (all of them Ollama): left so, since the audit trail vouches for those rows as
-- they were (core/store/audit_rows.py ADDED).

ALTER TABLE generations ADD COLUMN backend VARCHAR;
