"""``pipeline voices``: list built-in voices, aliases and named blends; add or remove blends.

Examples::

    pipeline voices list
    pipeline voices list --json
    pipeline voices add warm "af_aoede(6)+af_nicole(4)" --validate
    pipeline voices remove warm
"""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from pipeline.assets import AssetError, AssetPaths, ensure_assets
from pipeline.commands.common import fail, out
from pipeline.settings import get_settings
from pipeline.tts.backend import SAMPLE_RATE
from pipeline.tts.voices import GENDERS, LANGUAGES, ResolvedVoice, VoiceError, VoiceStore, describe_voice

TEST_SENTENCE = "The quick brown fox jumps over the lazy dog."
SILENCE_PEAK = 1e-3  # below this peak amplitude the test sentence counts as silent

voices_app = typer.Typer(
    help="Kokoro voices: list built-in voices, aliases and named blends; add or remove blends.",
    no_args_is_help=True,
)


def _store(assemble: bool = True) -> VoiceStore:
    settings = get_settings()
    if assemble:
        try:
            voices_dir = ensure_assets(settings.cache_dir).voices_dir
        except AssetError as exc:
            fail(escape(str(exc)), code=1)
    else:
        voices_dir = AssetPaths(settings.cache_dir).voices_dir
    return VoiceStore(voices_dir, settings.blends_path)


def _user_error(exc: VoiceError) -> NoReturn:
    fail(escape(str(exc)), code=2)


def _grouped(names: list[str]) -> dict[str, dict[str, list[str]]]:
    groups: dict[str, dict[str, list[str]]] = {}
    for name in names:
        language, gender = describe_voice(name)
        groups.setdefault(language, {}).setdefault(gender, []).append(name)
    return groups


def _blend_rows(store: VoiceStore, blends: dict[str, str]) -> list[dict]:
    rows = []
    for name, recipe in sorted(blends.items()):
        try:
            rows.append({"name": name, "recipe": recipe, "canonical": store.canonical(name), "error": None})
        except VoiceError as exc:
            rows.append({"name": name, "recipe": recipe, "canonical": None, "error": str(exc)})
    return rows


@voices_app.command("list")
def list_voices(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Built-in voices (grouped by language and gender), aliases and named blends."""
    store = _store()
    try:
        blends = store.blends()
    except VoiceError as exc:
        _user_error(exc)
    names = store.builtin_names()
    rows = _blend_rows(store, blends)
    if as_json:
        payload = {
            "voices": [{"name": n, "language": describe_voice(n)[0], "gender": describe_voice(n)[1]} for n in names],
            "aliases": store.aliases(),
            "blends": rows,
            "blends_file": str(store.blends_path),
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    table = Table(title=f"Built-in voices ({len(names)})", title_justify="left")
    table.add_column("language")
    for gender in GENDERS.values():
        table.add_column(gender)
    order = {lang: i for i, lang in enumerate(LANGUAGES.values())}
    for language, by_gender in sorted(_grouped(names).items(), key=lambda kv: order.get(kv[0], 99)):
        table.add_row(language, *(" ".join(by_gender.get(g, [])) for g in GENDERS.values()))
    out.print(table)

    aliases = Table(title="Aliases", title_justify="left")
    aliases.add_column("alias")
    aliases.add_column("voice")
    for alias, voice in store.aliases().items():
        aliases.add_row(alias, voice)
    out.print(aliases)

    if not rows:
        out.print(f"No named blends yet ({escape(str(store.blends_path))}); add one with")
        out.print('  pipeline voices add NAME "af_aoede(6)+af_nicole(4)"', markup=False)
        return
    table = Table(title=f"Named blends ({escape(str(store.blends_path))})", title_justify="left")
    table.add_column("name")
    table.add_column("recipe")
    table.add_column("resolves to")
    for row in rows:
        resolved = escape(row["canonical"]) if row["error"] is None else f"[red]{escape(row['error'])}[/]"
        table.add_row(escape(row["name"]), escape(row["recipe"]), resolved)
    out.print(table)


def validate_audio(resolved: ResolvedVoice) -> str:
    """Synthesize the test sentence with ``resolved`` and check the audio; returns a summary."""
    from pipeline.tts.engine import build_engine

    engine = build_engine(get_settings())
    engine.setup()
    try:
        result = engine.synthesize_text(TEST_SENTENCE, voice=resolved.canonical, speed=1.0)
    finally:
        teardown = getattr(engine, "teardown", None)
        if teardown is not None:
            teardown()
    audio = np.asarray(result.audio)
    if audio.size == 0:
        raise VoiceError(f"blend {resolved.spec!r} failed validation: the test sentence gave no audio")
    if not np.all(np.isfinite(audio)):
        raise VoiceError(f"blend {resolved.spec!r} failed validation: the audio has NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak < SILENCE_PEAK:
        raise VoiceError(f"blend {resolved.spec!r} failed validation: the audio is silent (peak {peak:.2g})")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return f"{audio.size / SAMPLE_RATE:.2f} s of audio, peak {peak:.2f}, rms {rms:.3f}"


@voices_app.command("add")
def add_blend(
    name: Annotated[str, typer.Argument(help="Blend name: lowercase letters, digits, '_' and '-'.")],
    recipe: Annotated[
        str,
        typer.Argument(help="e.g. af_aoede+af_nicole (repeat a name to weight it) or af_bella(2)+af_sky(1)."),
    ],
    validate: Annotated[
        bool, typer.Option("--validate", help="Also synthesize a test sentence and check the audio.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing blend of that name.")] = False,
) -> None:
    """Save a named blend, usable anywhere a voice name is."""
    store = _store()
    try:
        existed = name in store.blends()
        resolved = store.preview_blend(name, recipe, overwrite=force)
    except VoiceError as exc:
        _user_error(exc)
    if validate:
        try:
            summary = validate_audio(resolved)
        except VoiceError as exc:
            _user_error(exc)
        except Exception as exc:  # the engine failed, not the recipe
            fail(escape(f"could not validate blend {name!r}: {type(exc).__name__}: {exc}"), code=1)
    try:
        resolved = store.add_blend(name, recipe, overwrite=force)
    except VoiceError as exc:
        _user_error(exc)
    verb = "replaced" if existed else "added"
    out.print(f"{verb} blend [bold]{escape(name)}[/] = {escape(resolved.canonical)}")
    if validate:
        out.print(f"validated: {escape(summary)}")


@voices_app.command("remove")
def remove_blend(name: Annotated[str, typer.Argument(help="The named blend to delete.")]) -> None:
    """Delete a named blend."""
    store = _store(assemble=False)
    try:
        recipe = store.remove_blend(name)
    except VoiceError as exc:
        _user_error(exc)
    out.print(f"removed blend [bold]{escape(name)}[/] ({escape(recipe)})")
