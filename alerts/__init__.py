"""Acting on verdicts: metrics, alert rules and flag sinks."""
