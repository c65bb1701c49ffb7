"""Event sources: CDNOW (real), the synthetic clickstream (labelled syn-), JSONL/CSV files."""
