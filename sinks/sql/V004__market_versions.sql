-- One row per market version: a market's outcomes live on its row (JSON), its history is one
-- row per version with that version's changes as published on odds-changes.v2 (JSON).
-- The outcomes and odds_history tables become views with the columns they had. Existing rows
-- are converted; sinks/schema.py runs each statement once, so the copies precede the drops.
ALTER TABLE markets ADD COLUMN outcomes JSON NOT NULL DEFAULT ('[]') AFTER cancels;

CREATE TABLE IF NOT EXISTS market_history (
    event_id    VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    market_id   VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    specifiers  VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    version     BIGINT       NOT NULL,
    producer    INT          NULL,
    ts          BIGINT       NOT NULL,
    changes     JSON         NOT NULL,
    PRIMARY KEY (event_id, market_id, specifiers, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

UPDATE markets m SET m.outcomes = COALESCE((
    SELECT JSON_ARRAYAGG(JSON_OBJECT(
        'id', o.outcome_id, 'name', o.name, 'odds', o.odds, 'active', o.active <> 0,
        'probability', o.probability, 'result', o.result, 'void_factor', o.void_factor,
        'dead_heat_factor', o.dead_heat_factor))
    FROM outcomes o
    WHERE o.event_id = m.event_id AND o.market_id = m.market_id
      AND o.specifiers = m.specifiers), '[]');

-- The price history kept no producer and no status changes: those rows have neither.
INSERT IGNORE INTO market_history (event_id, market_id, specifiers, version, producer, ts,
                                   changes)
SELECT event_id, market_id, specifiers, version, NULL, MIN(ts),
       JSON_ARRAYAGG(JSON_OBJECT('kind', 'price', 'outcome_id', outcome_id,
                                 'old', old_odds, 'new', new_odds))
FROM odds_history
GROUP BY event_id, market_id, specifiers, version;

DROP TABLE IF EXISTS outcomes;

DROP TABLE IF EXISTS odds_history;

CREATE VIEW outcomes AS
SELECT m.event_id, m.market_id, m.specifiers, o.outcome_id, o.name, o.odds, o.active,
       o.probability, o.result, o.void_factor, o.dead_heat_factor, m.version
FROM markets m, JSON_TABLE(m.outcomes, '$[*]' COLUMNS (
    outcome_id       VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin PATH '$.id',
    name             VARCHAR(256) CHARACTER SET utf8mb4 PATH '$.name',
    odds             DOUBLE      PATH '$.odds',
    active           TINYINT(1)  PATH '$.active',
    probability      DOUBLE      PATH '$.probability',
    result           VARCHAR(16) PATH '$.result',
    void_factor      DOUBLE      PATH '$.void_factor',
    dead_heat_factor DOUBLE      PATH '$.dead_heat_factor')) o;

-- A status change's old and new are strings: the odds are read as text, cast for prices only.
CREATE VIEW odds_history AS
SELECT h.event_id, h.market_id, h.specifiers, c.outcome_id, h.version,
       CAST(c.old_odds AS DOUBLE) AS old_odds, CAST(c.new_odds AS DOUBLE) AS new_odds, h.ts
FROM market_history h, JSON_TABLE(h.changes, '$[*]' COLUMNS (
    kind       VARCHAR(16)  PATH '$.kind',
    outcome_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin PATH '$.outcome_id',
    old_odds   VARCHAR(64)  PATH '$.old',
    new_odds   VARCHAR(64)  PATH '$.new')) c
WHERE c.kind = 'price';
