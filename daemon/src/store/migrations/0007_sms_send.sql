-- SMS through Twilio, the sending side. `sms_sent`: each message commsd
-- handed to Twilio (its MessageSid) and the outbox item it came from, with
-- the delivery status Twilio's status callbacks report. `sms_optouts`: who
-- opted out of (or back in to) messages from one of our senders (a number or
-- a Messaging Service), per account.
CREATE TABLE sms_sent (
    message_sid TEXT PRIMARY KEY,
    -- NULL while only a status callback knows the message (it can arrive
    -- before Twilio's answer to the send).
    item_id TEXT,
    account_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX sms_sent_item ON sms_sent (item_id);

CREATE TABLE sms_optouts (
    account_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    number TEXT NOT NULL,
    opted_out INTEGER NOT NULL,
    source TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (account_id, sender, number)
);

-- Approved SMS a human let go out during quiet hours.
CREATE TABLE sms_quiet_overrides (
    item_id TEXT PRIMARY KEY,
    by TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
