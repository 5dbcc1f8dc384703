-- When a running daemon last recorded that it was alive (every few
-- seconds): after an unclean stop, the last time it watched the outbox.
ALTER TABLE daemon_runs ADD COLUMN last_seen_ms INTEGER;
