-- Contract v1.1: a verdict's category (scalping / resale_buyer / '' for none) and a flagged seller's
-- buyers. Additive: old rows read as '' and []. The current-verdict view is recreated to carry them.
ALTER TABLE {db}.verdicts ADD COLUMN IF NOT EXISTS category String DEFAULT '' AFTER reasons;
ALTER TABLE {db}.verdicts ADD COLUMN IF NOT EXISTS buyers Array(String) AFTER category;
ALTER TABLE {db}.current_verdicts ADD COLUMN IF NOT EXISTS category String DEFAULT '' AFTER reasons;
ALTER TABLE {db}.current_verdicts ADD COLUMN IF NOT EXISTS buyers Array(String) AFTER category;
DROP TABLE IF EXISTS {db}.current_verdicts_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.current_verdicts_mv TO {db}.current_verdicts AS
SELECT
    account_id, site, model_version, scored_ms, scored_at, score, flagged, flagged_ms, reasons, category, buyers,
    row_version, toUInt64(scored_ms) AS latest
FROM {db}.verdicts;
