-- The inbox's conversation view lists one thread of one account, oldest
-- first (`threadId` filter of inbox_list, /api/v1/inbox, the dashboard).
CREATE INDEX inbox_messages_thread ON inbox_messages (account_id, thread_id, at_ms);
