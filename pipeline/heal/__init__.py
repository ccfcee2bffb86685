"""Heal (issue 14): re-synthesize the chunks whose clip is not kept, walking a ladder of changes,
and select the best take of every (chunk, voice).

* ``ladder``: the rungs (lexicon, stress, respell, speed, split, backend), which one a chunk tries next, and the
  clause boundary a chunk is split at;
* ``rechunk``: a label (whole, half, or with pronunciation overrides) back into a ``Chunk``;
* ``pronunciations``: the per-book lexicon file and ``pipeline lexicon suggest``;
* ``selection``: the documented order that picks the selected take, and its write;
* ``state``: what the store holds about a dataset's clips, grouped by (book, voice, chunk);
* ``candidates``: clips of other datasets with a chunk's exact label (``--candidates``);
* ``rejects``: the reject pile and its CSV / JSON lines export.

The job that drives them is ``pipeline.jobs.heal``.
"""
