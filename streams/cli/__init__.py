"""Operator commands (``python -m streams topics|migrate|replay|rescore|report|...``)."""
