"""Scoring side of slotguard: the scikit-learn anomaly model, thresholds, explanations, artifacts."""
