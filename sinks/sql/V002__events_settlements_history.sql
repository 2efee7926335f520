-- Settlement fields, events, settlements and the append-only price history.
ALTER TABLE markets
    ADD COLUMN certainty   TINYINT NULL AFTER margin,
    ADD COLUMN void_reason INT     NULL AFTER certainty,
    ADD COLUMN cancelled   TINYINT(1) NOT NULL DEFAULT 0 AFTER void_reason;

ALTER TABLE outcomes
    ADD COLUMN result           VARCHAR(16) NULL AFTER probability,
    ADD COLUMN void_factor      DOUBLE      NULL AFTER result,
    ADD COLUMN dead_heat_factor DOUBLE      NULL AFTER void_factor;

CREATE TABLE IF NOT EXISTS events (
    event_id     VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    status       VARCHAR(16)  NOT NULL,
    match_status INT          NULL,
    home_score   INT          NULL,
    away_score   INT          NULL,
    clock        VARCHAR(20)  NULL,
    start_time   BIGINT       NULL,
    sport        VARCHAR(100) NULL,
    competition  VARCHAR(200) NULL,
    home         VARCHAR(200) NULL,
    away         VARCHAR(200) NULL,
    version      BIGINT       NOT NULL,
    updated_ts   BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS settlements (
    event_id    VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    market_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    specifiers  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    version     BIGINT       NOT NULL,
    type        VARCHAR(32)  NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    certainty   TINYINT      NULL,
    ts          BIGINT       NOT NULL,
    detail      JSON         NOT NULL,
    PRIMARY KEY (event_id, market_id, specifiers, version)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS odds_history (
    event_id    VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    market_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    specifiers  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    outcome_id  VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    version     BIGINT       NOT NULL,
    old_odds    DOUBLE       NULL,
    new_odds    DOUBLE       NULL,
    ts          BIGINT       NOT NULL,
    PRIMARY KEY (event_id, market_id, specifiers, outcome_id, version)
) ENGINE=InnoDB;
