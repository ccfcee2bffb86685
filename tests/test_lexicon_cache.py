"""The lexicon's on-disk caches: prepared dictionaries and one-word G2P readings (real CMUdict,
real misaki + espeak-ng), so later processes (re-verdict workers, validate) start in a fraction of
the time without changing a single pronunciation."""

from __future__ import annotations

import pickle

import pytest

import verdicts.lexicon as lexicon_module
from pipeline.lexicon import G2PPhonemizer, WordCache
from verdicts.lexicon import Lexicon


def test_prepared_dictionaries_are_read_back_unchanged(tmp_path, monkeypatch):
    fresh = Lexicon(dictionaries_cache=tmp_path)
    tale, tail, name = fresh.cmu["tale"], fresh.misaki["tail"], fresh.misaki.get("alice")
    kept = list(tmp_path.glob("dictionaries-*.marshal"))
    assert len(kept) == 1

    def not_again():
        raise AssertionError("the dictionaries were prepared again instead of read")

    monkeypatch.setattr(lexicon_module, "_load_cmudict", not_again)
    monkeypatch.setattr(lexicon_module, "_load_misaki", not_again)
    later = Lexicon(dictionaries_cache=tmp_path)
    assert later.cmu["tale"] == tale and later.misaki["tail"] == tail and later.misaki.get("alice") == name
    assert later.sounds_alike(("tale",), ("tail",)) == "cmudict"
    assert len(later.cmu) == len(fresh.cmu) and len(later.misaki) == len(fresh.misaki)


def test_unreadable_prepared_dictionaries_are_prepared_again(tmp_path, caplog):
    assert Lexicon(dictionaries_cache=tmp_path).cmu["tale"]
    (kept,) = tmp_path.glob("dictionaries-*.marshal")
    kept.write_bytes(b"\x00not marshal")
    again = Lexicon(dictionaries_cache=tmp_path)
    assert again.sounds_alike(("tale",), ("tail",)) == "cmudict"
    assert "unreadable" in caplog.text
    assert Lexicon(dictionaries_cache=tmp_path).cmu["tale"] == again.cmu["tale"]  # written whole again


@pytest.mark.parametrize("word", ["sigismond", "briony"])
def test_g2p_readings_on_disk_spare_a_later_process_the_g2p(tmp_path, word):
    first = G2PPhonemizer(tmp_path)
    said = first(word)
    assert said and first._engine is not None  # made by the real G2P
    later = G2PPhonemizer(tmp_path)  # another process reading the same folder
    assert later(word) == said
    assert later._engine is None  # never loaded
    unpickled = pickle.loads(pickle.dumps(first))  # what a worker process receives
    assert unpickled._engine is None and unpickled(word) == said and unpickled._engine is None


def test_a_line_cut_short_by_a_kill_is_ignored(tmp_path):
    cache = WordCache(tmp_path)
    cache.put("tale", "tˈAl")
    with cache.path.open("a", encoding="utf-8") as handle:
        handle.write("\nsigismond\tsˈɪʤ")  # a writer killed mid-line: a reading cut short
    again = WordCache(tmp_path)
    assert again.get("tale") == "tˈAl" and again.get("sigismond") is None
    fixed = G2PPhonemizer(tmp_path)
    whole = fixed("sigismond")  # phonemized anew and appended on a line of its own
    assert whole.startswith("sˈɪʤ") and len(whole) > len("sˈɪʤ")
    assert WordCache(tmp_path).get("sigismond") == whole


def test_in_context_phonemes_still_load_the_g2p(tmp_path):
    cached = G2PPhonemizer(tmp_path)
    cached("alice")
    later = G2PPhonemizer(tmp_path)
    assert later("alice") and later._engine is None
    words = later.label_words("Alice read the book.")
    assert words is not None and len(words) == 4 and later._engine is not None
