-- Latest snapshot of every market and its outcomes; rows are guarded by the market version.
CREATE TABLE IF NOT EXISTS markets (
    event_id    VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    market_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    specifiers  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    producer    INT          NOT NULL,
    margin      DOUBLE       NULL,
    version     BIGINT       NOT NULL,
    updated_ts  BIGINT       NOT NULL,
    PRIMARY KEY (event_id, market_id, specifiers)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS outcomes (
    event_id    VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    market_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    specifiers  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    outcome_id  VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    odds        DOUBLE       NULL,
    active      TINYINT(1)   NOT NULL,
    probability DOUBLE       NULL,
    version     BIGINT       NOT NULL,
    PRIMARY KEY (event_id, market_id, specifiers, outcome_id)
) ENGINE=InnoDB;
