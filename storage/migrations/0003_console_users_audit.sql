-- The investigator console: its users, and the audit trail of every access to a person's record.
--
-- users: one row per change of a user (added, disabled, enabled, password set); the latest row per
-- username (highest row_version) is the user. Passwords are Argon2id hashes, never the password.
CREATE TABLE IF NOT EXISTS {db}.users
(
    username      String,
    role          String,
    password_hash String,
    disabled      UInt8,
    changed_by    String,
    changed_ms    Int64,
    row_version   UInt64
)
ENGINE = ReplacingMergeTree(row_version)
ORDER BY username;

-- audit: append-only. A plain MergeTree (not Replacing): a row written with the same values as another
-- never replaces it, and the application has no statement that alters or deletes rows here.
-- Not partitioned by month and not in retention's tables: `slotguard retention` never drops it.
-- Access path: time (the admin reads the latest first; `slotguard audit --since`).
CREATE TABLE IF NOT EXISTS {db}.audit
(
    audit_id   String,
    at_ms      Int64,
    at         DateTime('UTC') DEFAULT toDateTime(intDiv(at_ms, 1000), 'UTC'),
    username   String,
    role       String,
    action     String,
    target     String,
    purpose    String,
    address    String,
    session_id String,
    detail     String
)
ENGINE = MergeTree()
ORDER BY (at_ms, audit_id);
