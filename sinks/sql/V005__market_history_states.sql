-- market_history keeps each version's full state beside its changes: status, outcomes (id,
-- odds, active) and updated_ts from markets.v1, changes from odds-changes.v2, merged by
-- version in either order. A version seen only on markets.v1 (no price or status changed)
-- has no changes; one seen only on odds-changes.v2 has no status or outcomes, and its
-- updated_ts is the feed ts until its snapshot arrives. Rows written before this have no
-- state: their updated_ts is their ts.
-- One change per statement: a statement an interrupted run applied is skipped alone.
ALTER TABLE market_history MODIFY COLUMN changes JSON NULL;
ALTER TABLE market_history ADD COLUMN status VARCHAR(16) NULL;
ALTER TABLE market_history ADD COLUMN outcomes JSON NULL;
ALTER TABLE market_history ADD COLUMN updated_ts BIGINT NOT NULL DEFAULT 0;
UPDATE market_history SET updated_ts = ts WHERE updated_ts = 0;
-- The window and the version in force at an instant, read by GET .../history.
CREATE INDEX market_history_time ON market_history (event_id, market_id, specifiers,
                                                    updated_ts);
