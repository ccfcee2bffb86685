"""Verdicts: text normalization, word alignment and per-word verdict rules (see SPEC "validate")."""
