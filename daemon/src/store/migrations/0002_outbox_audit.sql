-- The outbox: every outgoing message, from staging to its final state.
CREATE TABLE outbox_items (
    id                TEXT    PRIMARY KEY,
    channel           TEXT    NOT NULL,
    account           TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    priority          INTEGER NOT NULL,      -- 0 high, 1 normal, 2 low
    requester         TEXT    NOT NULL,      -- who staged it: cli:<user>, key:<name>, mcp:<client>, dashboard
    client_request_id TEXT,                  -- idempotent staging: same requester + id = same item
    content           TEXT    NOT NULL,      -- JSON of the validated content
    content_hash      TEXT    NOT NULL,      -- SHA-256 over the canonical content and account
    recipients        TEXT    NOT NULL,      -- JSON array of bare recipients
    summary           TEXT    NOT NULL,
    decision          TEXT    NOT NULL,      -- approve | confirm | auto
    rule              TEXT    NOT NULL,      -- the policy rule that decided
    hold_reason       TEXT,                  -- why it waits (cap reached, ...)
    approved_hash     TEXT,                  -- the content hash the approval covers
    approved_by       TEXT,
    approved_at_ms    INTEGER,
    rejected_by       TEXT,
    rejected_at_ms    INTEGER,
    reject_reason     TEXT,
    dispatch_after_ms INTEGER,               -- approval time + hold window
    dispatched_at_ms  INTEGER,               -- when it was marked sending (counts against caps)
    delivered_at_ms   INTEGER,
    delivery_detail   TEXT,
    error             TEXT,
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    expires_at_ms     INTEGER,
    UNIQUE (requester, client_request_id)
) STRICT;

CREATE INDEX outbox_queue ON outbox_items (state, priority, created_at_ms, id);
CREATE INDEX outbox_caps ON outbox_items (account, channel, dispatched_at_ms);

-- Append-only, hash-chained audit trail. Never holds message bodies.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    item_id      TEXT,
    account      TEXT,
    channel      TEXT,
    recipients   TEXT    NOT NULL,           -- JSON array
    content_hash TEXT,
    decision     TEXT,
    result       TEXT,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_item ON audit_log (item_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
