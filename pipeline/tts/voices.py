"""Kokoro voices: built-in packs, aliases, blend recipes and named blends.

A *voice spec* is anything a user may write where a voice is expected:

* a built-in voice name: ``af_heart`` (the 54 official packs in the assets voices dir);
* an alias: ``female`` ``male`` ``f1``..``f4`` ``m1``..``m4`` (see :data:`ALIASES`);
* a named blend saved with ``pipeline voices add`` (a JSON file, ``Settings.blends_path``);
* a recipe: ``af_aoede+af_nicole`` (a repeated name weights it, so six ``af_aoede`` and four
  ``af_nicole`` make 60/40), or explicit weights ``af_bella(2)+af_sky(1)`` / ``af_bella(0.7)+af_sky(0.3)``.
  Components of a recipe may themselves be aliases or named blends.

A blend's style pack is the weighted mean of its component packs, the same way Kokoro's
``KPipeline.load_voice`` averages comma-separated voices. Example::

    store = VoiceStore(AssetPaths(cache_dir).voices_dir, settings.blends_path)
    voice = store.resolve("af_bella(2)+af_sky(1)")
    voice.canonical   # 'af_bella(0.666667)+af_sky(0.333333)'
    voice.pack.shape  # (510, 1, 256)
    store.add_blend("warm", "af_aoede(6)+af_nicole(4)")
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.files import write_text_atomic

PACK_SHAPE = (510, 1, 256)
PACK_BYTES = 510 * 1 * 256 * 4

ALIASES: dict[str, str] = {
    "female": "af_aoede",
    "male": "am_michael",
    "f1": "af_heart",
    "f2": "af_bella",
    "f3": "af_sky",
    "f4": "af_aoede",
    "m1": "am_fenrir",
    "m2": "am_puck",
    "m3": "am_michael",
    "m4": "bm_george",
}

LANGUAGES: dict[str, str] = {
    "a": "American English",
    "b": "British English",
    "e": "Spanish",
    "f": "French",
    "h": "Hindi",
    "i": "Italian",
    "j": "Japanese",
    "p": "Brazilian Portuguese",
    "z": "Mandarin Chinese",
}
GENDERS: dict[str, str] = {"f": "female", "m": "male"}

BLEND_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
BLEND_NAME_MAX = 64
_PART_RE = re.compile(r"^(?P<name>[^()\s]+)\s*(?:\((?P<weight>[^()]*)\))?$")


class VoiceError(ValueError):
    """A voice spec, recipe or blend name the user got wrong; the message says how."""


@dataclass(frozen=True)
class ResolvedVoice:
    spec: str  # what the user wrote
    canonical: str  # 'af_aoede(0.6)+af_nicole(0.4)', or just 'af_heart' for a plain voice
    components: tuple[tuple[str, float], ...]  # built-in voice names, weights summing to 1
    pack: np.ndarray = field(compare=False, repr=False)  # float32 (510, 1, 256)

    @property
    def is_blend(self) -> bool:
        return len(self.components) > 1

    @property
    def slug(self) -> str:
        return voice_slug(self.spec)


def english_accent(components: tuple[tuple[str, float], ...]) -> str | None:
    """misaki's English for a voice (its heaviest component): ``"b"`` (British) for ``b*`` voices
    such as ``bf_emma``, ``"a"`` (American) for ``a*`` voices, None for other languages."""
    if not components:
        return None
    name = max(components, key=lambda c: c[1])[0]
    return name[:1] if name[:1] in ("a", "b") else None


def g2p_lang(components: tuple[tuple[str, float], ...], default: str, by_voice: bool = True) -> str:
    """The misaki English a voice's text is phonemized in: its own accent (``english_accent``)
    when ``by_voice`` and it has one, else ``default`` (the settings' ``lang_code``)."""
    return (english_accent(components) if by_voice else None) or default


def describe_voice(name: str) -> tuple[str, str]:
    """(language, gender) for a built-in voice name such as ``bf_emma``."""
    lang = LANGUAGES.get(name[:1], "other")
    gender = GENDERS.get(name[1:2], "unknown") if len(name) > 2 and name[2] == "_" else "unknown"
    return lang, gender


def format_weight(weight: float) -> str:
    text = f"{weight:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def canonical_recipe(components: tuple[tuple[str, float], ...]) -> str:
    if len(components) == 1:
        return components[0][0]
    return "+".join(f"{name}({format_weight(weight)})" for name, weight in components)


def voice_slug(spec: str) -> str:
    """A stable, filesystem-safe directory name for a voice spec.

    Names (built-in, alias, named blend) are kept as they are: ``af_heart`` -> ``af_heart``.
    Recipes get a readable part (repeated names merged) plus a short hash of the spec, so
    different recipes never share a directory: ``af_bella(2)+af_sky(1)`` -> ``af_bella2+af_sky1-<8 hex>``,
    ``af_aoede+af_aoede+af_nicole`` -> ``af_aoede2+af_nicole1-<8 hex>``.
    Whitespace and letter case do not matter.
    """
    normalized = "".join(spec.split()).lower()
    if BLEND_NAME_RE.fullmatch(normalized):
        return normalized
    try:
        merged: dict[str, float] = {}
        for name, weight in parse_recipe(normalized):
            merged[name] = merged.get(name, 0.0) + weight
        readable = "+".join(f"{name}{format_weight(weight)}" for name, weight in merged.items())
    except VoiceError:
        readable = re.sub(r"[()]", "", normalized)
    readable = re.sub(r"[^a-z0-9_.+-]", "_", readable).strip(".")[:80] or "voice"
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def _split_top_level(spec: str) -> list[str]:
    """Split on '+' outside parentheses; raise on unbalanced or nested parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in spec:
        if char == "(":
            depth += 1
            if depth > 1:
                raise VoiceError(f"broken recipe {spec!r}: nested parentheses; write weights as name(2)")
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise VoiceError(f"broken recipe {spec!r}: unbalanced parentheses (a ')' without '(')")
        if char == "+" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if depth != 0:
        raise VoiceError(f"broken recipe {spec!r}: unbalanced parentheses (a '(' is never closed)")
    parts.append("".join(current))
    return parts


def parse_recipe(spec: str) -> list[tuple[str, float]]:
    """``'af_bella(2)+af_sky'`` -> ``[('af_bella', 2.0), ('af_sky', 1.0)]`` (names not checked)."""
    text = spec.strip().lower()
    if not text:
        raise VoiceError("empty voice spec: give a voice name, an alias, a named blend or a recipe")
    raw_parts = _split_top_level(text)
    parsed: list[tuple[str, float]] = []
    for index, raw in enumerate(raw_parts):
        part = raw.strip()
        if not part:
            if len(raw_parts) > 1 and index == len(raw_parts) - 1:
                where = "it ends with '+'"
            elif index == 0:
                where = "it starts with '+'"
            else:
                where = "two '+' in a row"
            raise VoiceError(f"broken recipe {spec!r}: empty part ({where}); write e.g. af_bella+af_sky")
        match = _PART_RE.fullmatch(part)
        if match is None:
            raise VoiceError(
                f"broken recipe {spec!r}: cannot read {part!r}; write name or name(weight), e.g. af_bella(2)"
            )
        name, weight_text = match.group("name"), match.group("weight")
        if weight_text is None:
            weight = 1.0
        else:
            if not weight_text.strip():
                raise VoiceError(f"broken recipe {spec!r}: empty weight for {name}; write e.g. {name}(2)")
            try:
                weight = float(weight_text.strip())
            except ValueError:
                raise VoiceError(
                    f"broken recipe {spec!r}: weight {weight_text.strip()!r} of {name} is not a number"
                ) from None
            if not math.isfinite(weight):
                raise VoiceError(f"broken recipe {spec!r}: weight of {name} must be a finite number")
            if weight <= 0:
                raise VoiceError(
                    f"broken recipe {spec!r}: weight of {name} is {weight_text.strip()}; weights must be > 0"
                )
        parsed.append((name, weight))
    return parsed


class VoiceStore:
    """Built-in packs + aliases + named blends. Loads nothing until asked; packs are cached."""

    def __init__(self, voices_dir: Path, blends_path: Path) -> None:
        self.voices_dir = Path(voices_dir)
        self.blends_path = Path(blends_path)
        self._builtin: list[str] | None = None
        self._packs: dict[str, np.ndarray] = {}

    # --- listing ----------------------------------------------------------------------------
    def builtin_names(self) -> list[str]:
        if self._builtin is None:
            names = sorted(p.stem for p in self.voices_dir.glob("*.bin")) if self.voices_dir.is_dir() else []
            if not names:
                # not cached: the assets may be assembled later in this process
                return []
            self._builtin = names
        return list(self._builtin)

    def aliases(self) -> dict[str, str]:
        return dict(ALIASES)

    def blends(self) -> dict[str, str]:
        """Named blends (name -> recipe as written) from the JSON file; no file = no blends."""
        path = self.blends_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise VoiceError(f"cannot read blends file {path}: {exc.strerror or exc}") from None
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise VoiceError(
                f"blends file {path} is not valid JSON ({exc.msg}, line {exc.lineno}); fix or delete it"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise VoiceError(
                f'blends file {path} must be a JSON object of name -> recipe, e.g. {{"warm": "af_aoede+af_nicole"}}'
            )
        return dict(data)

    # --- resolving --------------------------------------------------------------------------
    def _known_names(self, blends: dict[str, str]) -> list[str]:
        return [*self.builtin_names(), *ALIASES, *blends]

    def _unknown(self, name: str, spec: str, blends: dict[str, str]) -> VoiceError:
        known = self._known_names(blends)
        if not self.builtin_names():
            return VoiceError(
                f"unknown voice {name!r}: no voice packs found in {self.voices_dir}; run `pipeline assets`"
            )
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        where = f" in {spec!r}" if spec.strip().lower() != name else ""
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `pipeline voices list`"
        return VoiceError(f"unknown voice {name!r}{where}{hint}")

    def _expand(self, spec: str, blends: dict[str, str], chain: tuple[str, ...] = ()) -> dict[str, float]:
        """Spec -> {built-in name: weight}, weights summing to 1 (no packs loaded)."""
        builtin = set(self.builtin_names())
        parsed = parse_recipe(spec)
        total: dict[str, float] = {}
        weight_sum = sum(w for _, w in parsed)
        for name, weight in parsed:
            share = weight / weight_sum
            if name in builtin:
                sub = {name: 1.0}
            elif name in ALIASES:
                target = ALIASES[name]
                if target not in builtin:
                    raise self._unknown(target, spec, blends)
                sub = {target: 1.0}
            elif name in blends:
                if name in chain:
                    loop = " -> ".join((*chain[chain.index(name) :], name))
                    raise VoiceError(f"blend {name!r} refers to itself ({loop})")
                sub = self._expand(blends[name], blends, (*chain, name))
            else:
                raise self._unknown(name, spec, blends)
            for voice, fraction in sub.items():
                total[voice] = total.get(voice, 0.0) + share * fraction
        return total

    def components(self, spec: str) -> tuple[tuple[str, float], ...]:
        """The built-in voices and normalised weights a spec stands for, sorted by name."""
        return self._components(spec, self.blends())

    def _components(self, spec: str, blends: dict[str, str]) -> tuple[tuple[str, float], ...]:
        weights = self._expand(spec, blends)
        norm = sum(weights.values())
        return tuple((name, weights[name] / norm) for name in sorted(weights))

    def canonical(self, spec: str) -> str:
        return canonical_recipe(self.components(spec))

    def load_pack(self, name: str) -> np.ndarray:
        """One built-in pack, float32 (510, 1, 256), read-only and cached."""
        pack = self._packs.get(name)
        if pack is not None:
            return pack
        path = self.voices_dir / f"{name}.bin"
        if not path.is_file():
            raise self._unknown(name, name, {})
        size = path.stat().st_size
        if size != PACK_BYTES:
            raise VoiceError(f"voice pack {path} has {size} bytes, expected {PACK_BYTES}; run `pipeline assets`")
        pack = np.fromfile(path, dtype=np.float32).reshape(PACK_SHAPE)
        pack.setflags(write=False)
        self._packs[name] = pack
        return pack

    def resolve(self, spec: str) -> ResolvedVoice:
        """A voice name, alias, named blend or recipe -> :class:`ResolvedVoice`."""
        return self._resolve(spec, self.blends())

    def _resolve(self, spec: str, blends: dict[str, str]) -> ResolvedVoice:
        components = self._components(spec, blends)
        pack = self.mix(components)
        return ResolvedVoice(spec=spec, canonical=canonical_recipe(components), components=components, pack=pack)

    def mix(self, components: tuple[tuple[str, float], ...]) -> np.ndarray:
        """The style pack of normalised components: the built-in pack itself (cached, shared)
        for one component, else a new read-only weighted mean."""
        if len(components) == 1:
            return self.load_pack(components[0][0])
        mixed = np.zeros(PACK_SHAPE, dtype=np.float64)
        for name, weight in components:
            mixed += weight * self.load_pack(name).astype(np.float64)
        pack = mixed.astype(np.float32)
        pack.setflags(write=False)
        return pack

    # --- named blends -----------------------------------------------------------------------
    def check_blend_name(self, name: str) -> None:
        if not name:
            raise VoiceError("blend name is empty")
        if not BLEND_NAME_RE.fullmatch(name):
            raise VoiceError(f"invalid blend name {name!r}: use lowercase letters, digits, '_' and '-' only")
        if len(name) > BLEND_NAME_MAX:
            raise VoiceError(f"invalid blend name {name!r}: at most {BLEND_NAME_MAX} characters")
        if name in ALIASES:
            raise VoiceError(f"blend name {name!r} clashes with the alias {name} -> {ALIASES[name]}")
        if name in self.builtin_names():
            raise VoiceError(f"blend name {name!r} clashes with the built-in voice {name}")

    def preview_blend(self, name: str, recipe: str, *, overwrite: bool = False) -> ResolvedVoice:
        """Everything :meth:`add_blend` checks, without saving: the blend as it would resolve."""
        resolved, _ = self._prepare_blend(name, recipe, overwrite)
        return resolved

    def add_blend(self, name: str, recipe: str, *, overwrite: bool = False) -> ResolvedVoice:
        """Validate (by resolving) and save a named blend; returns it resolved.

        An existing blend with a different recipe is replaced only with ``overwrite=True``.
        """
        resolved, updated = self._prepare_blend(name, recipe, overwrite)
        write_text_atomic(self.blends_path, json.dumps(dict(sorted(updated.items())), indent=2) + "\n", fsync=True)
        return resolved

    def _prepare_blend(self, name: str, recipe: str, overwrite: bool) -> tuple[ResolvedVoice, dict[str, str]]:
        self.check_blend_name(name)
        if not recipe.strip():
            raise VoiceError(f"blend {name!r} needs a recipe, e.g. af_aoede(6)+af_nicole(4)")
        parse_recipe(recipe)  # syntax errors first, quoting the recipe as written
        compact = "".join(recipe.split()).lower()  # names hold no spaces once parsed
        blends = self.blends()
        if name in blends and "".join(blends[name].split()).lower() != compact and not overwrite:
            raise VoiceError(
                f"blend {name!r} already exists ({blends[name]}); remove it first or replace it (voices add --force)"
            )
        updated = {**blends, name: compact}
        # resolving the name expands every blend it reaches, so any cycle through it shows up here
        return self._resolve(name, updated), updated

    def _uses(self, blend: str, target: str, blends: dict[str, str], seen: frozenset[str] = frozenset()) -> bool:
        """Does ``blend`` refer (directly or through other blends) to ``target``?"""
        if blend in seen:
            return False
        try:
            names = [n for n, _ in parse_recipe(blends.get(blend, ""))]
        except VoiceError:
            return False
        for n in names:
            if n == target or (n in blends and self._uses(n, target, blends, seen | {blend})):
                return True
        return False

    def remove_blend(self, name: str) -> str:
        """Delete a named blend; returns its recipe. Refuses while other blends use it."""
        blends = self.blends()
        if name not in blends:
            if name in ALIASES or name in self.builtin_names():
                raise VoiceError(f"{name!r} is a built-in voice or alias, not a named blend")
            close = difflib.get_close_matches(name, list(blends), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise VoiceError(f"no named blend {name!r} in {self.blends_path}{hint}")
        users = sorted(b for b in blends if b != name and self._uses(b, name, blends))
        if users:
            raise VoiceError(f"blend {name!r} is used by {', '.join(users)}; remove those first")
        recipe = blends.pop(name)
        write_text_atomic(self.blends_path, json.dumps(dict(sorted(blends.items())), indent=2) + "\n", fsync=True)
        return recipe
