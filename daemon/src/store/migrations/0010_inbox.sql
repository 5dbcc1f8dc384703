-- The unified inbox ([inbox]): one row per message that came in, whatever
-- its channel, fed by the providers' message sources. `provider_id` is the
-- id the provider's own tools take (a Gmail message id, an IMAP or sandbox
-- message id, a MessageSid, a Chat message name, a sandbox record id).
-- `text` is clipped; `names` and `addresses` are what search matches
-- besides subject and text (addresses include phone numbers as digits);
-- `from_norm` is the sender's address lowercased or a number's digits.
CREATE TABLE inbox_messages (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'chat')),
    account_id TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    thread_id TEXT,
    from_addr TEXT NOT NULL,
    from_name TEXT,
    from_norm TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    truncated INTEGER NOT NULL,
    names TEXT NOT NULL,
    addresses TEXT NOT NULL,
    has_attachments INTEGER NOT NULL,
    unread INTEGER NOT NULL,
    indexed_at_ms INTEGER NOT NULL,
    UNIQUE (account_id, channel, provider_id)
);
CREATE INDEX inbox_messages_recent ON inbox_messages (at_ms, id);
CREATE INDEX inbox_messages_account ON inbox_messages (account_id, at_ms);

-- Full-text search over the rows above (external content): trigram with
-- accents folded, so parts of words and words with or without accents match.
CREATE VIRTUAL TABLE inbox_fts USING fts5 (
    subject, text, names, addresses,
    content = 'inbox_messages', content_rowid = 'id',
    tokenize = 'trigram remove_diacritics 1'
);
CREATE TRIGGER inbox_messages_ai AFTER INSERT ON inbox_messages BEGIN
    INSERT INTO inbox_fts (rowid, subject, text, names, addresses)
    VALUES (new.id, new.subject, new.text, new.names, new.addresses);
END;
CREATE TRIGGER inbox_messages_ad AFTER DELETE ON inbox_messages BEGIN
    INSERT INTO inbox_fts (inbox_fts, rowid, subject, text, names, addresses)
    VALUES ('delete', old.id, old.subject, old.text, old.names, old.addresses);
END;
CREATE TRIGGER inbox_messages_au AFTER UPDATE OF subject, text, names, addresses ON inbox_messages BEGIN
    INSERT INTO inbox_fts (inbox_fts, rowid, subject, text, names, addresses)
    VALUES ('delete', old.id, old.subject, old.text, old.names, old.addresses);
    INSERT INTO inbox_fts (rowid, subject, text, names, addresses)
    VALUES (new.id, new.subject, new.text, new.names, new.addresses);
END;

-- Each source's place per account (a Gmail historyId, a store's last row)
-- and its last sync, for `commsctl status`.
CREATE TABLE inbox_sources (
    source TEXT NOT NULL,
    account_id TEXT NOT NULL,
    cursor TEXT,
    last_sync_ms INTEGER,
    last_error TEXT,
    PRIMARY KEY (source, account_id)
);
