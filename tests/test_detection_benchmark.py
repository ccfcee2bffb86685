"""The detection benchmark's builder (benchmarks/faultset): labels stay the book's words, the audio
text differs exactly as each fault type says, fault indices point at the right label words, a
seed reproduces the set, and the set is a dataset dir ``pipeline validate`` reads. Built with the
real G2P and the real Kokoro engine on a few passages of Alice chapter 1."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from faultset.build import (  # noqa: E402
    MisakiPhonetics,
    Phonemizers,
    SetConfig,
    load_passages,
    plan_set,
    read_specs,
    speak_text,
    synthesize_set,
)
from faultset.faults import G2P_FAULTS, FaultKind, parse, phoneme_distance, spell_out  # noqa: E402

from pipeline.manifest import Manifest  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

TEXT_FAULTS = tuple(k for k in FaultKind if k is not FaultKind.clean and k not in G2P_FAULTS)


@pytest.fixture(scope="module")
def chapter_one(alice_book, tmp_path_factory) -> tuple[Path, list[str]]:
    """Alice chapter 1 as its own small book file, and its words (the oracle for labels)."""
    paragraphs = alice_book.chapter(1).paragraphs
    path = tmp_path_factory.mktemp("book") / "alice_ch1.txt"
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path, " ".join(paragraphs).split()


@pytest.fixture(scope="module")
def phonemizers() -> Phonemizers:
    return Phonemizers()


@pytest.fixture(scope="module")
def us_lexicon() -> MisakiPhonetics:
    return MisakiPhonetics(british=False)


@pytest.fixture(scope="module")
def passages(chapter_one, phonemizers):
    return load_passages([chapter_one[0]], phonemizers.g2p("a"), 10.0)


def _config(book: Path, seed: int = 0, kinds=TEXT_FAULTS) -> SetConfig:
    return SetConfig(books=(book,), seed=seed, per_fault=1, clean=1, voices=("af_heart",), kinds=tuple(kinds))


def _is_run_of(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def _core(token: str) -> str:
    parsed = parse(token)
    assert parsed is not None, token
    return parsed.core


def _check_edit(kind: FaultKind, spoken: list[str], edited: list[str], spec, lexicon: MisakiPhonetics) -> None:
    """The edited tokens are the label's (as the G2P reads them) changed exactly as ``kind`` says."""
    indices = spec.indices
    if kind == FaultKind.substitution:
        (i,) = indices
        assert len(edited) == len(spoken)
        assert [j for j, (a, b) in enumerate(zip(spoken, edited, strict=True)) if a != b] == [i]
        old, new = _core(spoken[i]), _core(edited[i])
        distance = min(phoneme_distance(a, b) for a in lexicon.readings(old) for b in lexicon.readings(new))
        assert distance >= 0.5, f"{old} -> {new} sounds alike"
    elif kind == FaultKind.deletion:
        (i,) = indices
        assert edited == spoken[:i] + spoken[i + 1 :]
    elif kind == FaultKind.insertion:
        p = spec.insert_position
        assert indices == (p - 1, p)
        assert edited[:p] == spoken[:p] and edited[p + 1 :] == spoken[p:]
        assert edited[p].lower() not in {t.lower() for t in spoken}
    elif kind == FaultKind.repetition_word:
        (i,) = indices
        assert edited == spoken[:i] + [_core(spoken[i])] + spoken[i:]
    elif kind == FaultKind.repetition_phrase:
        i, j = indices
        assert j == i + 1
        assert edited == spoken[:i] + [_core(spoken[i]), _core(spoken[j])] + spoken[i:]
    elif kind == FaultKind.truncation:
        n, k = len(spoken), len(indices)
        assert 3 <= k <= 5 and indices == tuple(range(n - k, n))
        assert edited[:-1] == spoken[: n - k - 1]
        assert edited[-1].endswith(".") and _core(edited[-1]) == _core(spoken[n - k - 1])
    elif kind == FaultKind.swap:
        i, j = indices
        assert j == i + 1 and spoken[i] != spoken[j]
        assert edited == spoken[:i] + [spoken[j], spoken[i]] + spoken[j + 1 :]
    else:
        raise AssertionError(kind)


def test_text_faults_are_built_as_specified_and_synthesized(chapter_one, phonemizers, passages, us_lexicon, tmp_path):
    book, words = chapter_one
    config = _config(book)
    specs = plan_set(config, phonemizers, passages)
    assert sorted(s.kind for s in specs) == sorted([k.value for k in TEXT_FAULTS] + ["clean"])
    assert len({(s.book_id, s.chunk_index) for s in specs}) == len(specs)  # each passage once
    g2p = phonemizers.g2p("a")
    for spec in specs:
        label = spec.label.split()
        assert _is_run_of(words, label), "the label is not the book's words"
        assert spec.targets == tuple(label[i] for i in spec.indices)
        spoken = speak_text(label).split()
        assert len(spoken) == len(label)
        if spec.kind == "clean":
            assert spec.edited == speak_text(label) and spec.indices == ()
            assert spec.stored_phonemes == spec.synth_phonemes
            assert len(spec.word_phonemes) == len(spec.word_spans) == len(label)
            continue
        _check_edit(FaultKind(spec.kind), spoken, spec.edited.split(), spec, us_lexicon)
        # Kokoro was asked to say the label: the manifest stores its phonemes, not the edited ones,
        # and per label word what it owns of them; no predicted word times (those were the edit's).
        assert spec.stored_phonemes == g2p.phonemize(speak_text(label)).phonemes
        assert spec.synth_phonemes == g2p.phonemize(spec.edited).phonemes != spec.stored_phonemes
        assert len(spec.word_phonemes) == len(label) and spec.word_spans == ()

    settings = Settings(work_dir=tmp_path / "work")
    dataset_dir = settings.datasets_dir / config.name
    built = synthesize_set(specs, dataset_dir, settings, workers=2)
    assert built.synthesized == len(specs) and not built.failures
    records = {r.wav_path: r for r in Manifest.for_dataset(dataset_dir).records()}
    for spec in read_specs(dataset_dir):
        record = records[spec.wav_path]
        assert record.text == spec.label and record.phonemes == spec.stored_phonemes
        assert tuple(record.word_phonemes) == spec.word_phonemes
        assert (record.word_times is not None) == (spec.kind == "clean")
        assert (dataset_dir / record.txt_path).read_text(encoding="utf-8") == spec.label + "\n"
        info = sf.info(dataset_dir / spec.wav_path)
        assert info.samplerate == 24000 and 4.0 < info.duration < 25.0
    again = synthesize_set(specs, dataset_dir, settings, workers=1)
    assert again.synthesized == 0  # cached by content id: a rerun only re-validates


def test_seed_reproduces_the_set_and_another_seed_changes_it(chapter_one, phonemizers, passages):
    book, _ = chapter_one
    first = plan_set(_config(book, seed=7), phonemizers, passages)
    assert plan_set(_config(book, seed=7), phonemizers, passages) == first
    other = plan_set(_config(book, seed=8), phonemizers, passages)
    assert other != first
    assert _config(book, seed=7).name != _config(book, seed=8).name


def test_g2p_faults_feed_other_phonemes_for_the_book_word(chapter_one, phonemizers, passages, us_lexicon):
    book, words = chapter_one
    specs = plan_set(_config(book, kinds=sorted(G2P_FAULTS)), phonemizers, passages)
    g2p = phonemizers.g2p("a")
    for spec in (s for s in specs if s.kind != "clean"):
        label = spec.label.split()
        (i,) = spec.indices
        word = _core(label[i])
        assert _is_run_of(words, label)
        assert f"[{word}](/" in spec.edited  # misaki's override markup on the book's word
        assert spec.edited.replace(f"[{word}](/", "").count("](/") == 0
        fed = g2p.phonemize(spec.edited)
        assert spec.synth_phonemes == fed.phonemes == spec.stored_phonemes  # generate would store these
        assert spec.synth_phonemes != g2p.phonemize(speak_text(label)).phonemes
        # What generate would store: the faulty reading is the word's own, and a dictionary word
        # read letter by letter is a G2P audit finding.
        assert spec.word_phonemes[i].strip("“”‘’\"'.,;:!?—-()") in spec.synth_phonemes
        if spec.kind == FaultKind.spelled_out:
            assert us_lexicon.spelled(word) in spec.synth_phonemes
            assert us_lexicon.spelled(word) in spec.word_phonemes[i]
            letter = [f for f in spec.g2p_flags if f["rule"] == "g2p.letter_spelling" and not f["fixed"]]
            assert [f["word"] for f in letter] == [word]


def test_spell_out_reads_the_word_as_misaki_reads_an_acronym(us_lexicon):
    fault = spell_out("and then she said to me very softly".split(), random.Random(1), us_lexicon)
    assert fault is not None and fault.edited == tuple("and then she said to me very softly".split())
    ((i, phonemes),) = fault.overrides
    assert fault.indices == (i,)
    assert phonemes == us_lexicon.lexicon.get_NNP("and then she said to me very softly".split()[i])[0]


@pytest.mark.slow
def test_benchmark_end_to_end_on_a_tiny_set(chapter_one, tmp_path, monkeypatch):
    """The whole benchmark (build, real validate with both Whisper engines, report) on 1 clip per type."""
    import detection

    book, _ = chapter_one
    monkeypatch.setenv("PIPELINE_WORK_DIR", str(tmp_path / "work"))
    detection.main([str(book), "--per-fault", "1", "--clean", "1", "--voices", "bf_emma", "--out", str(tmp_path / "r")])
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert len(report["clips"]) == 10
    assert all(c["outcome"]["keep"] is not None for c in report["clips"])
    deletion = next(c for c in report["clips"] if c["spec"]["kind"] == "deletion")
    assert deletion["outcome"]["caught_at_word"]
    assert "| deletion |" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")


def test_a_g2p_finding_that_cost_the_clip_its_place_is_a_flag_at_its_word():
    from faultset.build import ClipSpec
    from faultset.score import score_clip

    spec = ClipSpec(
        clip="spelled_out_001", kind="spelled_out", book_id="b", chunk_index=1, voice="af_heart", lang="a",
        label="She said the word twice.", edited="", indices=(2,), targets=("the",), insert_position=None,
        detail="", stored_phonemes="", synth_phonemes="",
        g2p_flags=({"rule": "g2p.letter_spelling", "word": "the", "phonemes": "tˈi ˈAʧ ˈi", "fixed": False},),
    )  # fmt: skip
    rows = [{"word_index": i, "verdict": "pass"} for i in range(5)]
    kept = {"groups": {"verdicts": {"keep": True, "reject_reasons": []}}, "words": rows}
    assert not score_clip(spec, kept).caught_at_word  # a finding that decided nothing is no flag
    rejected = {"groups": {"verdicts": {"keep": False, "reject_reasons": ["g2p_letter_spelling"]}}, "words": rows}
    outcome = score_clip(spec, rejected)
    assert outcome.caught_at_word and outcome.detected
    assert outcome.flags == [{"at": 2, "insertion": False, "label_word": "the", "verdict": "g2p.letter_spelling"}]
