"""Every stage of the pipeline, one module each, all behind the ``Stage`` contract (``base``):

* ``synthesize``: a chunk x a voice -> wav + txt + ``AudioRecord`` (Kokoro);
* ``transcribe``: one ASR engine over clips -> ``Transcript``s;
* ``verdicts``: transcripts -> a verdict per label word (``ClipResult``), cascade escalation;
* ``quality``: one MOS judge per ``ScoreStage``, then ``QualityStage`` (signal metrics, MOS
  columns, the MOS part of ``keep``).

Runners (``pipeline.runner``, ``pipeline.ray_runner``) map stages; jobs (``pipeline.jobs``)
chain them.
"""

from pipeline.stages.base import ItemFailure, Resources, Stage

__all__ = ["ItemFailure", "Resources", "Stage"]
