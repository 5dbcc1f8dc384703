-- Every start of the daemon. A row whose stopped_at_ms stays NULL after its
-- process is gone marks an unclean stop (crash, kill -9, power loss).
CREATE TABLE daemon_runs (
    id            INTEGER PRIMARY KEY,
    pid           INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    stopped_at_ms INTEGER
) STRICT;
