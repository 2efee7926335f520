-- Names from the market descriptions, cancel windows, and void reasons that are names.
-- One change per statement: a statement an interrupted run applied is skipped alone.
ALTER TABLE markets ADD COLUMN name VARCHAR(256) CHARACTER SET utf8mb4 NULL AFTER specifiers;
ALTER TABLE markets ADD COLUMN cancels JSON NULL AFTER cancelled;
ALTER TABLE markets MODIFY COLUMN void_reason VARCHAR(64) NULL;
ALTER TABLE outcomes ADD COLUMN name VARCHAR(256) CHARACTER SET utf8mb4 NULL AFTER outcome_id;
