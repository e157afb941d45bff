-- slotguard history, schema version 1.
-- Portable SQL: runs on ClickHouse 18.16 (Debian's server) and on chDB 26.x. No TTL, no DateTime64,
-- no Map/JSON, no LowCardinality, no window functions.
--
-- Conventions
--   * Every time is an Int64 of epoch milliseconds (`*_ms`), plus a DateTime('UTC') derived from it
--     by DEFAULT for partitioning. Partitions are calendar months (UTC): retention drops whole ones.
--   * Every table is a ReplacingMergeTree whose ORDER BY is its idempotency key: the same logical row
--     written twice (a retried batch, a re-run) collapses to one on merge, and every query
--     deduplicates at read time (LIMIT 1 BY key, or latest by row_version), so each logical row is
--     returned once even before merges happen.
--   * `row_version` (UInt64, nanoseconds when the writer buffered the row) picks the survivor when
--     two rows share a key.

-- Validated events: one row per event_id. Access path: one account over time.
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id      String,
    type          String,
    ts_ms         Int64,
    ts            DateTime('UTC') DEFAULT toDateTime(intDiv(ts_ms, 1000), 'UTC'),
    site          String,
    account_id    String,
    session_id    String,
    ip            String,
    network       String,
    asn           Nullable(UInt32),
    user_agent    String,
    device_id     String,
    slot_id       String,
    booking_id    String,
    applicant_id  String,
    service       String,
    slot_start_ms Nullable(Int64),
    reason        String,
    success       Nullable(UInt8),
    results       Nullable(UInt32),
    email_hash    String,
    phone_hash    String,
    email_domain  String,
    raw           String,
    written_at    DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts_ms, event_id)
SETTINGS index_granularity = 2048;

-- Who used which device / address / applicant: one row per (entity, account, month) per insert batch,
-- aggregated by the view below at insert time (a polling bot's thousand searches from one device
-- become one row). Duplicates from retried batches are harmless: queries take min/max/distinct.
-- Access path: all accounts seen on one entity (linked accounts).
CREATE TABLE IF NOT EXISTS {db}.entity_links
(
    kind       String,
    entity     String,
    account_id String,
    month      Date,
    first_ms   Int64,
    last_ms    Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(month)
ORDER BY (kind, entity, account_id, first_ms, last_ms)
SETTINGS index_granularity = 2048;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.entity_links_mv TO {db}.entity_links AS
SELECT
    tupleElement(link, 1) AS kind,
    tupleElement(link, 2) AS entity,
    account_id,
    toStartOfMonth(ts) AS month,
    min(ts_ms) AS first_ms,
    max(ts_ms) AS last_ms
FROM {db}.events
ARRAY JOIN [('device', device_id), ('ip', ip), ('applicant', applicant_id)] AS link
WHERE account_id != '' AND tupleElement(link, 2) != ''
GROUP BY kind, entity, account_id, month;

-- Bookings and cancellations by slot, one row per event. Access path: who booked or cancelled a
-- slot around a time (handoffs: a cancel followed by another account's booking of the same slot).
CREATE TABLE IF NOT EXISTS {db}.slot_events
(
    slot_id    String,
    ts_ms      Int64,
    ts         DateTime('UTC'),
    account_id String,
    type       String,
    event_id   String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (slot_id, ts_ms, event_id)
SETTINGS index_granularity = 2048;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.slot_events_mv TO {db}.slot_events AS
SELECT slot_id, ts_ms, ts, account_id, type, event_id
FROM {db}.events
WHERE slot_id != '' AND account_id != '' AND type IN ('booking_created', 'booking_cancelled');

-- Input lines that failed the contract, whole (addresses redacted), with the reason.
CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    source      String,
    line_no     UInt64,
    reason      String,
    raw         String,
    raw_hash    UInt64 DEFAULT cityHash64(raw),
    received_ms Int64,
    received_at DateTime('UTC') DEFAULT toDateTime(intDiv(received_ms, 1000), 'UTC')
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, line_no, raw_hash);

-- Feature names, once per distinct list; snapshots refer to them by hash.
CREATE TABLE IF NOT EXISTS {db}.feature_sets
(
    feature_set   String,
    feature_names Array(String),
    registered_ms UInt64
)
ENGINE = ReplacingMergeTree(registered_ms)
ORDER BY feature_set;

-- Feature vectors as scored: the training and explanation record. Access path: one account over time.
CREATE TABLE IF NOT EXISTS {db}.snapshots
(
    account_id     String,
    site           String,
    t_ms           Int64,
    t              DateTime('UTC') DEFAULT toDateTime(intDiv(t_ms, 1000), 'UTC'),
    model_version  String,
    feature_set    String,
    feature_values Array(Float64),
    score          Float64,
    row_version    UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(t)
ORDER BY (account_id, t_ms, model_version);

-- Verdicts: the service's word on an account at a point in event time, with the model that said it.
-- The full history (retraining, audits). Access path: one account over time.
CREATE TABLE IF NOT EXISTS {db}.verdicts
(
    account_id    String,
    site          String,
    model_version String,
    scored_ms     Int64,
    scored_at     DateTime('UTC') DEFAULT toDateTime(intDiv(scored_ms, 1000), 'UTC'),
    score         Float64,
    flagged       UInt8,
    flagged_ms    Nullable(Int64),
    reasons       Array(String),
    row_version   UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(scored_at)
ORDER BY (account_id, model_version, scored_ms)
SETTINGS index_granularity = 2048;

-- The latest verdict per account and month, kept by the view below: merges leave one row per account
-- and month (the highest scored_ms), so "who is flagged now" reads a table the size of the account
-- population, not of the verdict history. Queries still take the latest row per account.
CREATE TABLE IF NOT EXISTS {db}.current_verdicts
(
    account_id    String,
    site          String,
    model_version String,
    scored_ms     Int64,
    scored_at     DateTime('UTC'),
    score         Float64,
    flagged       UInt8,
    flagged_ms    Nullable(Int64),
    reasons       Array(String),
    row_version   UInt64,
    latest        UInt64
)
ENGINE = ReplacingMergeTree(latest)
PARTITION BY toYYYYMM(scored_at)
ORDER BY account_id
SETTINGS index_granularity = 2048;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.current_verdicts_mv TO {db}.current_verdicts AS
SELECT
    account_id, site, model_version, scored_ms, scored_at, score, flagged, flagged_ms, reasons, row_version,
    toUInt64(scored_ms) AS latest
FROM {db}.verdicts;

-- Alerts raised (once per account and model, when it first crossed the threshold). Access path: site and time.
CREATE TABLE IF NOT EXISTS {db}.flags
(
    account_id    String,
    site          String,
    flagged_ms    Int64,
    flagged_at    DateTime('UTC') DEFAULT toDateTime(intDiv(flagged_ms, 1000), 'UTC'),
    score         Float64,
    threshold     Float64,
    reasons       Array(String),
    model_version String,
    row_version   UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(flagged_at)
ORDER BY (site, flagged_ms, account_id, model_version);

-- Investigator decisions; the latest per account is its training label.
CREATE TABLE IF NOT EXISTS {db}.decisions
(
    decision_id String,
    account_id  String,
    decision    String,
    note        String,
    decided_by  String,
    decided_ms  Int64,
    decided_at  DateTime('UTC') DEFAULT toDateTime(intDiv(decided_ms, 1000), 'UTC'),
    row_version UInt64
)
ENGINE = ReplacingMergeTree(row_version)
PARTITION BY toYYYYMM(decided_at)
ORDER BY (account_id, decided_ms, decision_id);

-- Model registry: what each model version is (no personal data; never dropped by retention).
CREATE TABLE IF NOT EXISTS {db}.models
(
    version         String,
    created_ms      Int64,
    feature_names   Array(String),
    feature_hash    String,
    sklearn_version String,
    threshold       Float64,
    metadata        String,
    registered_ms   UInt64
)
ENGINE = ReplacingMergeTree(registered_ms)
ORDER BY version;
