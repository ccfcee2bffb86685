"""Voice store, recipes, named blends and the `pipeline voices` sub-app, on the real voice packs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.assets import ensure_assets
from pipeline.commands.voices import voices_app
from pipeline.settings import Settings, get_settings
from pipeline.tts.voices import ALIASES, ResolvedVoice, VoiceError, VoiceStore, voice_slug

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    cache = Settings().cache_dir
    cache = cache if cache.is_absolute() else ROOT / cache
    ensure_assets(cache)
    return cache


@pytest.fixture(scope="session")
def voices_dir(cache_dir: Path) -> Path:
    return ensure_assets(cache_dir).voices_dir


@pytest.fixture
def store(voices_dir: Path, tmp_path: Path) -> VoiceStore:
    return VoiceStore(voices_dir, tmp_path / "voices.json")


def raw_pack(voices_dir: Path, name: str) -> np.ndarray:
    return np.fromfile(voices_dir / f"{name}.bin", dtype=np.float32).reshape(510, 1, 256)


# --- built-ins and aliases ----------------------------------------------------------------


def test_builtin_names(store: VoiceStore) -> None:
    names = store.builtin_names()
    assert len(names) == 54
    assert names == sorted(names)
    assert {"af_heart", "af_bella", "am_michael", "bm_george", "zf_xiaoyi"} <= set(names)


def test_init_loads_nothing(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "missing-voices", tmp_path / "missing.json")  # no error until used
    assert store.blends() == {}
    with pytest.raises(VoiceError, match="pipeline assets"):
        store.resolve("af_heart")


def test_plain_voice(store: VoiceStore, voices_dir: Path) -> None:
    voice = store.resolve("af_heart")
    assert isinstance(voice, ResolvedVoice)
    assert voice.spec == "af_heart"
    assert voice.canonical == "af_heart"
    assert voice.components == (("af_heart", 1.0),)
    assert voice.pack.dtype == np.float32 and voice.pack.shape == (510, 1, 256)
    np.testing.assert_array_equal(voice.pack, raw_pack(voices_dir, "af_heart"))
    assert store.resolve("af_heart").pack is voice.pack  # cached


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_resolves(store: VoiceStore, voices_dir: Path, alias: str) -> None:
    voice = store.resolve(alias)
    assert voice.spec == alias
    assert voice.canonical == ALIASES[alias]
    np.testing.assert_array_equal(voice.pack, raw_pack(voices_dir, ALIASES[alias]))


def test_alias_table() -> None:
    assert ALIASES["female"] == "af_aoede" and ALIASES["male"] == "am_michael"
    assert [ALIASES[f"f{i}"] for i in range(1, 5)] == ["af_heart", "af_bella", "af_sky", "af_aoede"]
    assert [ALIASES[f"m{i}"] for i in range(1, 5)] == ["am_fenrir", "am_puck", "am_michael", "bm_george"]


def test_case_and_whitespace_are_forgiven(store: VoiceStore) -> None:
    assert store.resolve("  AF_Heart ").canonical == "af_heart"
    assert store.resolve("af_bella (2) + af_sky( 1 )").canonical == store.resolve("af_bella(2)+af_sky(1)").canonical


# --- recipes --------------------------------------------------------------------------------


def test_repeated_names_weight(store: VoiceStore, voices_dir: Path) -> None:
    spec = "+".join(["af_aoede"] * 6 + ["af_nicole"] * 4)
    voice = store.resolve(spec)
    assert voice.components == (("af_aoede", pytest.approx(0.6)), ("af_nicole", pytest.approx(0.4)))
    assert voice.canonical == "af_aoede(0.6)+af_nicole(0.4)"
    expected = 0.6 * raw_pack(voices_dir, "af_aoede") + 0.4 * raw_pack(voices_dir, "af_nicole")
    assert voice.pack.dtype == np.float32 and voice.pack.shape == (510, 1, 256)
    np.testing.assert_allclose(voice.pack, expected, rtol=1e-6, atol=1e-6)


def test_interleaved_repeats_equal_grouped(store: VoiceStore) -> None:
    a = store.resolve("af_nicole+af_aoede+af_aoede")
    b = store.resolve("af_aoede(2)+af_nicole(1)")
    assert a.canonical == b.canonical
    np.testing.assert_allclose(a.pack, b.pack, atol=1e-7)


def test_explicit_weights(store: VoiceStore, voices_dir: Path) -> None:
    voice = store.resolve("af_bella(2)+af_sky(1)")
    assert [n for n, _ in voice.components] == ["af_bella", "af_sky"]
    assert [w for _, w in voice.components] == pytest.approx([2 / 3, 1 / 3])
    assert voice.canonical == "af_bella(0.666667)+af_sky(0.333333)"
    expected = (2 * raw_pack(voices_dir, "af_bella") + raw_pack(voices_dir, "af_sky")) / 3
    np.testing.assert_allclose(voice.pack, expected, rtol=1e-6, atol=1e-6)


def test_float_weights_and_sorting(store: VoiceStore, voices_dir: Path) -> None:
    voice = store.resolve("af_sky(0.3)+af_bella(0.7)")
    assert voice.components == (("af_bella", pytest.approx(0.7)), ("af_sky", pytest.approx(0.3)))
    assert voice.canonical == "af_bella(0.7)+af_sky(0.3)"
    expected = 0.7 * raw_pack(voices_dir, "af_bella") + 0.3 * raw_pack(voices_dir, "af_sky")
    np.testing.assert_allclose(voice.pack, expected, rtol=1e-6, atol=1e-6)
    # weights need not sum to one; only their ratio matters
    assert store.resolve("af_bella(7)+af_sky(3)").canonical == voice.canonical


def test_canonical_resolves_to_itself(store: VoiceStore) -> None:
    voice = store.resolve("af_bella(2)+af_sky(1)+am_adam(0.5)")
    again = store.resolve(voice.canonical)
    assert again.canonical == voice.canonical
    np.testing.assert_allclose(again.pack, voice.pack, atol=1e-6)
    assert sum(w for _, w in voice.components) == pytest.approx(1.0)


def test_single_component_recipe_is_plain(store: VoiceStore, voices_dir: Path) -> None:
    voice = store.resolve("af_bella(3)")
    assert voice.canonical == "af_bella" and not voice.is_blend
    assert store.resolve("af_bella+f2").canonical == "af_bella"  # f2 is an alias of af_bella


def test_aliases_inside_recipes(store: VoiceStore) -> None:
    voice = store.resolve("female(3)+male")
    assert voice.canonical == "af_aoede(0.75)+am_michael(0.25)"
    assert voice.is_blend


def test_mixed_languages_are_fine(store: VoiceStore) -> None:
    voice = store.resolve("af_heart+jf_alpha+zm_yunxi")
    assert len(voice.components) == 3
    assert np.all(np.isfinite(voice.pack))


def test_resolved_voice_equality_ignores_pack(store: VoiceStore) -> None:
    a = store.resolve("af_heart")
    b = ResolvedVoice("af_heart", "af_heart", (("af_heart", 1.0),), np.zeros((510, 1, 256), np.float32))
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.spec = "x"  # type: ignore[misc]


def test_cached_packs_are_read_only(store: VoiceStore) -> None:
    pack = store.resolve("af_heart").pack
    with pytest.raises(ValueError):
        pack[0, 0, 0] = 1.0


# --- broken recipes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty voice spec"),
        ("   ", "empty voice spec"),
        ("af_bella++af_sky", "two '+' in a row"),
        ("a++b", "two '+' in a row"),
        ("af_bella+", "ends with '+'"),
        ("+af_bella", "starts with '+'"),
        ("af_bella(0)", "weights must be > 0"),
        ("af_bella(-1)", "weights must be > 0"),
        ("af_bella(x)+af_sky", "weight 'x' of af_bella is not a number"),
        ("af_bella()", "empty weight"),
        ("af_bella(inf)", "finite"),
        ("af_bella(nan)", "finite"),
        ("af_bella(2", "unbalanced parentheses"),
        ("af_bella2)", "unbalanced parentheses"),
        ("af_bella((2))", "nested parentheses"),
        ("af_bella(2)x", "cannot read"),
        ("af bella", "cannot read"),
    ],
)
def test_broken_recipes(store: VoiceStore, spec: str, message: str) -> None:
    with pytest.raises(VoiceError) as info:
        store.resolve(spec)
    assert message in str(info.value)


def test_unknown_voice_suggests(store: VoiceStore) -> None:
    with pytest.raises(VoiceError, match="unknown voice 'af_hart'.*did you mean af_heart"):
        store.resolve("af_hart")
    with pytest.raises(VoiceError, match=r"unknown voice 'am_micheal' in .*did you mean am_michael"):
        store.resolve("af_bella+am_micheal")
    with pytest.raises(VoiceError, match="pipeline voices list"):
        store.resolve("qqqqqqq")


def test_voice_error_is_value_error() -> None:
    assert issubclass(VoiceError, ValueError)


# --- named blends ----------------------------------------------------------------------------


def test_blend_round_trip(store: VoiceStore, voices_dir: Path, tmp_path: Path) -> None:
    assert store.blends() == {}
    added = store.add_blend("warm", "af_aoede(6)+af_nicole(4)")
    assert added.spec == "warm"
    assert added.canonical == "af_aoede(0.6)+af_nicole(0.4)"
    assert json.loads((tmp_path / "voices.json").read_text()) == {"warm": "af_aoede(6)+af_nicole(4)"}
    assert not list(tmp_path.glob("*.tmp"))  # the temp file was renamed into place

    fresh = VoiceStore(voices_dir, tmp_path / "voices.json")  # a new process sees it
    assert fresh.blends() == {"warm": "af_aoede(6)+af_nicole(4)"}
    voice = fresh.resolve("warm")
    assert voice.spec == "warm" and voice.canonical == added.canonical
    np.testing.assert_allclose(voice.pack, store.resolve("af_aoede(0.6)+af_nicole(0.4)").pack, atol=1e-7)

    assert fresh.remove_blend("warm") == "af_aoede(6)+af_nicole(4)"
    assert fresh.blends() == {}
    with pytest.raises(VoiceError, match="unknown voice 'warm'"):
        fresh.resolve("warm")
    with pytest.raises(VoiceError, match="no named blend 'warm'"):
        fresh.remove_blend("warm")


def test_nested_blends(store: VoiceStore, voices_dir: Path) -> None:
    store.add_blend("warm", "af_aoede(6)+af_nicole(4)")
    store.add_blend("duo", "warm+am_michael")
    voice = store.resolve("duo")
    assert voice.canonical == "af_aoede(0.3)+af_nicole(0.2)+am_michael(0.5)"
    expected = (
        0.3 * raw_pack(voices_dir, "af_aoede")
        + 0.2 * raw_pack(voices_dir, "af_nicole")
        + 0.5 * raw_pack(voices_dir, "am_michael")
    )
    np.testing.assert_allclose(voice.pack, expected, rtol=1e-6, atol=1e-6)
    # a named blend inside a recipe, weighted
    mixed = store.resolve("duo(1)+f1(1)")
    assert mixed.canonical == "af_aoede(0.15)+af_heart(0.5)+af_nicole(0.1)+am_michael(0.25)"
    # a blend in use by another cannot be removed
    with pytest.raises(VoiceError, match="used by duo"):
        store.remove_blend("warm")
    store.remove_blend("duo")
    store.remove_blend("warm")


def test_blend_name_rules(store: VoiceStore) -> None:
    with pytest.raises(VoiceError, match="clashes with the built-in voice af_heart"):
        store.add_blend("af_heart", "af_bella+af_sky")
    with pytest.raises(VoiceError, match="clashes with the alias female"):
        store.add_blend("female", "af_bella+af_sky")
    for bad in ("Warm", "my blend", "a+b", "a(1)", "x/y", "", "ü"):
        with pytest.raises(VoiceError, match="blend name"):
            store.add_blend(bad, "af_bella+af_sky")
    store.add_blend("my-blend_2", "af_bella+af_sky")
    assert store.blends() == {"my-blend_2": "af_bella+af_sky"}


def test_blend_cycles(store: VoiceStore) -> None:
    with pytest.raises(VoiceError, match="refers to itself"):
        store.add_blend("loop", "loop+af_bella")
    store.add_blend("a", "af_bella+af_sky")
    store.add_blend("b", "a+am_adam")
    with pytest.raises(VoiceError, match=r"refers to itself \(a -> b -> a\)"):
        store.add_blend("a", "b+af_heart", overwrite=True)
    assert store.blends() == {"a": "af_bella+af_sky", "b": "a+am_adam"}  # nothing written


def test_broken_recipe_is_not_saved(store: VoiceStore, tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="did you mean af_nicole"):
        store.add_blend("warm", "af_aoede+af_nicol")
    with pytest.raises(VoiceError, match="two '\\+' in a row"):
        store.add_blend("warm", "af_aoede++af_nicole")
    with pytest.raises(VoiceError, match="needs a recipe"):
        store.add_blend("warm", "  ")
    assert not (tmp_path / "voices.json").exists()


def test_overwrite(store: VoiceStore) -> None:
    store.add_blend("warm", "af_aoede+af_nicole")
    store.add_blend("warm", "af_aoede + af_nicole")  # same recipe: fine
    with pytest.raises(VoiceError, match="already exists"):
        store.add_blend("warm", "af_heart+af_nicole")
    store.add_blend("warm", "af_heart+af_nicole", overwrite=True)
    assert store.blends() == {"warm": "af_heart+af_nicole"}


def test_preview_does_not_save(store: VoiceStore, tmp_path: Path) -> None:
    voice = store.preview_blend("warm", "af_aoede+af_nicole")
    assert voice.canonical == "af_aoede(0.5)+af_nicole(0.5)"
    assert not (tmp_path / "voices.json").exists()


def test_corrupt_blends_file(voices_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "voices.json"
    store = VoiceStore(voices_dir, path)
    path.write_text("{not json")
    with pytest.raises(VoiceError, match=str(path)):
        store.blends()
    with pytest.raises(VoiceError, match="not valid JSON"):
        store.resolve("af_heart")
    path.write_text('["warm"]')
    with pytest.raises(VoiceError, match="JSON object of name -> recipe"):
        store.blends()
    path.write_text("")
    assert store.blends() == {}


def test_blends_file_in_new_dir(voices_dir: Path, tmp_path: Path) -> None:
    store = VoiceStore(voices_dir, tmp_path / "deep" / "er" / "voices.json")
    store.add_blend("warm", "af_aoede+af_nicole")
    assert (tmp_path / "deep" / "er" / "voices.json").exists()


# --- slugs -------------------------------------------------------------------------------------


def test_voice_slug() -> None:
    assert voice_slug("af_heart") == "af_heart"
    assert voice_slug("female") == "female"
    assert voice_slug("my-blend_2") == "my-blend_2"
    slug = voice_slug("af_bella(2)+af_sky(1)")
    assert slug.startswith("af_bella2+af_sky1-") and len(slug) == len("af_bella2+af_sky1-") + 8
    assert voice_slug("af_bella(2)+af_sky(1)") == slug  # stable
    assert voice_slug(" AF_Bella(2) + af_sky(1) ") == slug  # case/whitespace do not matter
    assert voice_slug("af_bella(1)+af_sky(2)") != slug
    assert voice_slug("af_aoede+af_aoede+af_nicole").startswith("af_aoede2+af_nicole1-")
    for spec in ["af_bella(0.7)+af_sky(0.3)", "a/b", "../x", "a b", "x(", "+".join(["af_aoede"] * 60)]:
        result = voice_slug(spec)
        assert "/" not in result and "\\" not in result and " " not in result
        assert result not in {"", ".", ".."} and len(result) <= 100


def test_resolved_slug(store: VoiceStore) -> None:
    assert store.resolve("f1").slug == "f1"
    assert store.resolve("af_bella(2)+af_sky(1)").slug == voice_slug("af_bella(2)+af_sky(1)")


# --- CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPELINE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("PIPELINE_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("PIPELINE_VOICE_BLENDS_FILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "work" / "voices.json"
    get_settings.cache_clear()


def flat(text: str) -> str:
    return " ".join(text.split())


runner = CliRunner()


def test_cli_list(cli_env: Path) -> None:
    result = runner.invoke(voices_app, ["list"])
    assert result.exit_code == 0, result.output
    assert "Built-in voices (54)" in result.output
    assert "American English" in result.output and "af_heart" in result.output
    assert "female" in result.output and "No named blends" in flat(result.output)


def test_cli_add_list_remove(cli_env: Path) -> None:
    result = runner.invoke(voices_app, ["add", "warm", "af_aoede(6)+af_nicole(4)"])
    assert result.exit_code == 0, result.output
    assert "added blend warm = af_aoede(0.6)+af_nicole(0.4)" in flat(result.output)
    assert json.loads(cli_env.read_text()) == {"warm": "af_aoede(6)+af_nicole(4)"}

    result = runner.invoke(voices_app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["voices"]) == 54
    assert {"name": "bm_george", "language": "British English", "gender": "male"} in data["voices"]
    assert data["aliases"]["m4"] == "bm_george"
    assert data["blends"] == [
        {
            "name": "warm",
            "recipe": "af_aoede(6)+af_nicole(4)",
            "canonical": "af_aoede(0.6)+af_nicole(0.4)",
            "error": None,
        }
    ]

    result = runner.invoke(voices_app, ["list"])
    assert "warm" in result.output and "af_aoede(0.6)+af_nicole(0.4)" in result.output

    result = runner.invoke(voices_app, ["add", "warm", "af_heart"])
    assert result.exit_code == 2 and "already exists" in flat(result.output)
    result = runner.invoke(voices_app, ["add", "warm", "af_heart", "--force"])
    assert result.exit_code == 0 and "replaced blend warm = af_heart" in flat(result.output)

    result = runner.invoke(voices_app, ["remove", "warm"])
    assert result.exit_code == 0, result.output
    assert "removed blend warm" in result.output
    assert json.loads(cli_env.read_text()) == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "warm", "af_aoede++af_nicole"], "two '+' in a row"),
        (["add", "warm", "af_hart+af_nicole"], "did you mean af_heart"),
        (["add", "warm", "af_bella(0)"], "weights must be > 0"),
        (["add", "af_heart", "af_bella"], "clashes with the built-in voice"),
        (["add", "male", "af_bella"], "clashes with the alias"),
        (["add", "Bad!", "af_bella"], "invalid blend name"),
        (["add", "loop", "loop+af_bella"], "refers to itself"),
        (["remove", "nothing"], "no named blend 'nothing'"),
    ],
)
def test_cli_user_errors(cli_env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(voices_app, args)
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr)
    assert "error:" in result.stderr
    assert "Traceback" not in result.output
    assert not cli_env.exists()


def test_cli_corrupt_blends_file(cli_env: Path) -> None:
    cli_env.parent.mkdir(parents=True)
    cli_env.write_text("{oops")
    for args in (["list"], ["add", "warm", "af_heart+af_bella"], ["remove", "warm"]):
        result = runner.invoke(voices_app, args)
        assert result.exit_code == 2, result.output
        assert "not valid JSON" in flat(result.stderr)


class _FakeResult:
    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio


class _FakeEngine:
    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.calls: list[tuple[str, str, float]] = []

    def setup(self) -> None:
        pass

    def synthesize_text(self, text: str, voice: str, speed: float = 1.0) -> _FakeResult:
        self.calls.append((text, voice, speed))
        return _FakeResult(self.audio)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(24_000, np.float32), "silent"),
        (np.full(24_000, np.nan, np.float32), "NaN"),
        (np.zeros(0, np.float32), "no audio"),
    ],
)
def test_cli_validate_rejects_bad_audio(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, audio: np.ndarray, message: str
) -> None:
    import pipeline.tts.engine as engine_module

    fake = _FakeEngine(audio)
    monkeypatch.setattr(engine_module, "build_engine", lambda settings: fake)
    result = runner.invoke(voices_app, ["add", "warm", "af_aoede(6)+af_nicole(4)", "--validate"])
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr) and "failed validation" in flat(result.stderr)
    assert fake.calls == [("The quick brown fox jumps over the lazy dog.", "af_aoede(0.6)+af_nicole(0.4)", 1.0)]
    assert not cli_env.exists()  # a blend that fails validation is not saved


def test_cli_validate_engine_crash(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.tts.engine as engine_module

    def broken(settings):
        raise RuntimeError("no model")

    monkeypatch.setattr(engine_module, "build_engine", broken)
    result = runner.invoke(voices_app, ["add", "warm", "af_heart+af_bella", "--validate"])
    assert result.exit_code == 1
    assert "could not validate blend 'warm': RuntimeError: no model" in flat(result.stderr)
    assert not cli_env.exists()


def test_cli_validate_real_engine(cli_env: Path) -> None:
    """End to end: the real Kokoro engine (CPU) speaks the test sentence with the blend."""
    pytest.importorskip("pipeline.tts.engine")
    result = runner.invoke(voices_app, ["add", "warm", "af_aoede(6)+af_nicole(4)", "--validate"])
    assert result.exit_code == 0, result.output
    assert "validated:" in result.output and "s of audio" in result.output
    assert json.loads(cli_env.read_text()) == {"warm": "af_aoede(6)+af_nicole(4)"}


@pytest.mark.parametrize(
    ("components", "accent"),
    [
        ((("af_heart", 1.0),), "a"),
        ((("bf_emma", 1.0),), "b"),
        ((("bm_george", 0.7), ("af_sky", 0.3)), "b"),  # the heaviest component decides
        ((("af_sky", 0.6), ("bf_emma", 0.4)), "a"),
        ((("ff_siwis", 1.0),), None),  # not English: the settings' lang_code
        ((), None),
    ],
)
def test_english_accent_of_a_voice(components, accent) -> None:
    from pipeline.tts.voices import english_accent, g2p_lang

    assert english_accent(components) == accent
    assert g2p_lang(components, "a") == (accent or "a")
    assert g2p_lang(components, "a", by_voice=False) == "a"
