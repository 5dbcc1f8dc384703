-- Contacts ([contacts], issue 17): what each source of each account holds,
-- one row per person record as Google (or the sandbox's address book) has
-- it, normalised; the merged identity is built in memory from these rows.
CREATE TABLE contact_records (
    account_id TEXT NOT NULL,
    -- saved | other | directory | local
    source TEXT NOT NULL,
    -- people/c123, otherContacts/c456, people/<directory id>, local/1
    resource_name TEXT NOT NULL,
    etag TEXT,
    -- names, nicknames, emails, phones, chat ids, groups, organisation (JSON)
    data TEXT NOT NULL,
    -- the full sync that last saw the row; rows a full sync did not see go
    sync_gen INTEGER NOT NULL DEFAULT 0,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, resource_name)
) WITHOUT ROWID;

CREATE TABLE contact_groups (
    account_id TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (account_id, resource_name)
) WITHOUT ROWID;

-- Per account and source: the sync token (saved only after the last page),
-- and a run in progress (the token it started from, NULL for a full sync;
-- the next page; its generation), so a crash mid-sync resumes.
CREATE TABLE contact_sync (
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    sync_token TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0,
    run_token TEXT,
    page_token TEXT,
    synced_at_ms INTEGER,
    PRIMARY KEY (account_id, source)
) WITHOUT ROWID;

-- Addressing by name: what staging was asked and what it resolved to (JSON).
ALTER TABLE outbox_items ADD COLUMN addressing TEXT;
