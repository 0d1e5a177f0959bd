"""Fine-tuning of docveil's models on a customer's own, redacted data."""
