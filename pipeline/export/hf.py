"""``--format hf``: a Hugging Face dataset that decodes, plus Hub-ready parquet shards.

- ``save_to_disk`` layout at the export root: ``datasets.load_from_disk(path)[0]["audio"]`` gives
  ``{"array", "sampling_rate", "path"}`` (a ``Dataset``; with ``--splits`` a ``DatasetDict`` keyed
  by split). The ``audio`` column (``datasets.Audio``) holds the wav bytes themselves, so the
  export never points back at the work dir.
- ``data/<split>-00000-of-0000N.parquet``: the same rows with the audio embedded, at most
  ``SHARD_BYTES`` each, named the way ``push_to_hub`` names them; the card's YAML ``configs``
  points at them, so uploading ``README.md`` + ``data/`` publishes the dataset as is.

Rows are streamed to an Arrow file per split first (bounded memory, no audio codec needed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.export.audio import Clip
from pipeline.export.values import hf_feature, hf_value
from pipeline.export.writer import Writer
from pipeline.tts.backend import SAMPLE_RATE

BATCH_BYTES = 64 << 20  # flush an Arrow record batch at about this much audio
SHARD_BYTES = 500 << 20  # push_to_hub's default max_shard_size
DATA_DIR = "data"


def parquet_name(split: str, index: int, count: int) -> str:
    return f"{DATA_DIR}/{split}-{index:05d}-of-{count:05d}.parquet"


class HfWriter(Writer):
    name = "hf"

    def features(self):
        import datasets

        types = self.options.types
        return datasets.Features(
            {"audio": datasets.Audio(sampling_rate=SAMPLE_RATE), **{c: hf_feature(types[c]) for c in types}}
        )

    def write_split(self, split: str, clips: Iterable[Clip]) -> None:
        import pyarrow as pa

        schema = self.features().arrow_schema
        types = self.options.types
        with pa.OSFile(str(self.stage / f"{split}.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            batch: list[dict[str, Any]] = []
            batch_bytes = 0
            for clip in clips:
                record = {c: hf_value(v, types[c]) for c, v in self.metadata(clip).items()}
                record["audio"] = {"bytes": clip.data, "path": clip.name}
                batch.append(record)
                batch_bytes += len(clip.data)
                if batch_bytes >= BATCH_BYTES:
                    writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
                    batch, batch_bytes = [], 0
            if batch:
                writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))

    def finish(self, splits: Sequence[str]) -> None:
        import datasets

        bars = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()  # the caller shows its own progress
        try:
            parts = {split: datasets.Dataset.from_file(str(self.stage / f"{split}.arrow")) for split in splits}
            if self.options.split_requested:
                datasets.DatasetDict(parts).save_to_disk(str(self.out))
            else:
                parts[splits[0]].save_to_disk(str(self.out))
            for split, part in parts.items():
                count = max(1, math.ceil(part.data.nbytes / SHARD_BYTES))
                for index in range(count):
                    shard = part.shard(num_shards=count, index=index, contiguous=True)
                    (self.out / DATA_DIR).mkdir(exist_ok=True)
                    shard.to_parquet(str(self.out / parquet_name(split, index, count)))
            del parts
        finally:
            if bars:
                datasets.enable_progress_bars()
