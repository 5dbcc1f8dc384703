-- SMS received through Twilio (webhooks or polling), stored before the
-- webhook is answered. `message_sid` is Twilio's MessageSid: a redelivered
-- webhook or an overlapping poll stores the message once. A thread is
-- (account, our number, their number).
CREATE TABLE sms_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_sid TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    our_number TEXT NOT NULL,
    their_number TEXT NOT NULL,
    body TEXT NOT NULL,
    messaging_service_sid TEXT,
    keyword TEXT,
    source TEXT NOT NULL CHECK (source IN ('webhook', 'poll')),
    received_at_ms INTEGER NOT NULL
);
CREATE INDEX sms_messages_thread ON sms_messages (account_id, their_number, our_number, seq);
CREATE INDEX sms_messages_account ON sms_messages (account_id, seq);

-- MMS media of a stored message: the URL Twilio gave, then where the file
-- was saved (or why not).
CREATE TABLE sms_media (
    message_sid TEXT NOT NULL REFERENCES sms_messages (message_sid) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    url TEXT NOT NULL,
    content_type TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'saved', 'too_large', 'failed')),
    path TEXT,
    size INTEGER,
    error TEXT,
    PRIMARY KEY (message_sid, idx)
);
