"""The detection benchmark's fault-injection set: ``faults`` (text edits), ``build`` (passages,
plan, synthesis), ``score`` (validate results -> per-clip outcomes), ``report`` (tables, JSON).
Run it with ``python benchmarks/detection.py BOOK [BOOK ...]``."""
