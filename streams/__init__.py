"""Lifeline's Faust application: settings, topics, records, the database sink, CLI commands."""

import online_models  # noqa: F401  # one BLAS thread unless set (before numpy loads it)
