-- Google Chat: followed spaces. `chat_follow` keeps each (account, space)'s
-- cursor (the create time of the newest stored message), saved in the same
-- transaction as the page it follows; `chat_messages` holds the messages
-- read from followed spaces, de-duplicated by Google's message name;
-- `chat_posted` the names of messages commsd itself posted, so polling does
-- not report them as new.
CREATE TABLE chat_follow (
    account TEXT NOT NULL,
    space TEXT NOT NULL,
    cursor TEXT,
    PRIMARY KEY (account, space)
);
CREATE TABLE chat_messages (
    name TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    space TEXT NOT NULL,
    thread TEXT,
    sender TEXT,
    create_time TEXT NOT NULL,
    text TEXT NOT NULL,
    stored_at_ms INTEGER NOT NULL
);
CREATE INDEX chat_messages_space ON chat_messages (account, space, create_time);
CREATE TABLE chat_posted (
    name TEXT PRIMARY KEY,
    posted_at_ms INTEGER NOT NULL
);
