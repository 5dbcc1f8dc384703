-- Accounts added at run time (Google over OAuth, IMAP/SMTP). The embedded
-- sandbox account is not stored. No secret is ever stored here: refresh
-- tokens and passwords live in the vault under names derived from the id.
CREATE TABLE accounts (
    id               TEXT    PRIMARY KEY,          -- stable UUID; never changes, even when tokens do
    kind             TEXT    NOT NULL,             -- google | imap
    email            TEXT    NOT NULL,
    labels           TEXT    NOT NULL DEFAULT '[]',-- JSON array of strings
    is_default       INTEGER NOT NULL DEFAULT 0,   -- at most one (index below); none: the sandbox
    scopes           TEXT    NOT NULL DEFAULT '',  -- granted OAuth scopes, space-separated
    state            TEXT    NOT NULL DEFAULT 'active', -- active | reauth_required | domain_blocked
    state_reason     TEXT,                         -- what the provider said, for the human
    settings         TEXT    NOT NULL DEFAULT '{}',-- kind-specific JSON (servers, ports), no secrets
    created_at_ms    INTEGER NOT NULL,
    last_used_at_ms  INTEGER
) STRICT;

CREATE UNIQUE INDEX accounts_kind_email ON accounts (kind, email COLLATE NOCASE);
CREATE UNIQUE INDEX accounts_one_default ON accounts (is_default) WHERE is_default = 1;
