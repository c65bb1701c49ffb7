"""Lifeline's Faust application: settings, topics, records, the database sink, CLI commands."""
