"""Rebuild a torch Kokoro-82M checkpoint (``kokoro-v1_0.pth`` layout) from the int8 ONNX export.

No registry carries hexgrad's fp32 ``kokoro-v1_0.pth``, and the Hugging Face hub may be out of
reach, but the int8 ONNX export holds every trained weight (quantized). This module reads that
graph with the ``onnx`` package, dequantizes each weight, undoes the export's folding, and writes
a checkpoint the official ``kokoro.KModel`` loads with ``strict=True``. The result is int8-rounded
weights run with fp32 activations: close to, but not, the original fp32 model.

Rules (see docs/FACTS.md, "Rebuilding a torch Kokoro checkpoint from the int8 ONNX"):

* A quantized weight belongs to the module named by the node that *consumes* it (the node's
  scope path), never by the initializer's own name: ``/encoder/F0.0/conv1/Conv_quant`` ->
  ``predictor.F0.0.conv1``; the ``encoder``/``decoder`` export wrappers drop; ``_N`` suffixes of
  repeated calls (the 12 ALBERT layer calls share one set of weights) drop.
* Dequantize as ``(q - zero_point) * scale`` with the zero point taken from the node's own
  inputs (zero-point tensors are shared between unrelated nodes, so their names mislead).
  ``MatMulInteger``: int8 per output column, stored ``[in, out]`` (transposed for torch).
  ``ConvInteger``: uint8 per tensor. ``DynamicQuantizeLSTM``: int8 per direction.
* Weight-normed convs appear with the norm folded in: ``weight_v = W`` and ``weight_g = ||W||``
  over every dim but 0 (torch ``weight_norm``'s default ``dim=0``, which for ``ConvTranspose1d``
  is the input channel). Where per-tensor quantization zeroed a whole channel, ``g = 0`` and
  ``v = 1`` (else torch divides by a zero norm and the audio is NaN).
* LSTMs: ONNX ``W [2, in, 4H]``/``R [2, H, 4H]`` transpose to torch; ``B [2, 8H]`` is the W bias
  then the R bias; gates reorder from ONNX ``(i, o, f, c)`` to torch ``(i, f, g, o)``; direction
  1 is torch's ``_reverse``.
* Not in the graph: the AdaIN ``InstanceNorm1d`` affine parameters (set to 1 and 0, their
  identity: the export shows no scale/shift after the normalisation) and the BERT pooler,
  which Kokoro never runs (filled with zeros, deterministic).
* Un-quantized float parameters (biases, LayerNorm, Snake ``alpha``) keep their torch names in
  the graph and are taken by name.

Example::

    from pipeline.tts.onnx_to_torch import convert_onnx_to_torch
    info = convert_onnx_to_torch(Path("kokoro-v1.0.int8.onnx"), Path("kokoro-v1_0-int8-rebuilt.pth"))
    KokoroTorchBackend(model=info["checkpoint"], device="cpu")
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.assets import ONNX_SHA256, AssetError, AssetPaths, assemble_onnx
from pipeline.files import atomic_path, sha256_file, write_text_atomic

log = logging.getLogger(__name__)

# Bump when the conversion changes: the cached checkpoint is rebuilt when this differs.
CONVERTER_VERSION = 1
KMODEL_MODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
KMODEL_KEY_COUNT = 688
REPO_ID = "hexgrad/Kokoro-82M"
# ONNX LSTM gate blocks are (i, o, f, c); torch wants (i, f, g=c, o).
_ONNX_TO_TORCH_GATES = (0, 2, 3, 1)
# Graph nodes that carry constants which are no KModel parameter: the export's frozen iSTFT
# basis (KModel runs torch.istft instead).
_IGNORED_MODULES = ("decoder.generator.istft",)


class ConversionError(RuntimeError):
    """The ONNX graph does not map onto Kokoro-82M's ``KModel`` the way this converter expects."""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_empty_kmodel():
    """A fresh ``kokoro.KModel`` (CPU, default init) built from the shipped config, loading
    nothing from disk or the hub (an empty checkpoint loads no tensors). The global torch RNG
    state is left untouched."""
    import torch
    from kokoro import KModel

    from pipeline.tts.backend import kokoro_config

    with tempfile.TemporaryDirectory(prefix="kokoro-empty-") as tmp:
        empty = Path(tmp) / "empty.pth"
        torch.save({}, empty)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return KModel(repo_id=REPO_ID, config=kokoro_config(), model=str(empty)).eval()


class _Graph:
    """Initializers and producer/consumer maps of one ONNX graph."""

    def __init__(self, model) -> None:
        from onnx import numpy_helper

        self.nodes = list(model.graph.node)
        self.init = {t.name: t for t in model.graph.initializer}
        self._arrays: dict[str, np.ndarray] = {}
        self._to_array = numpy_helper.to_array
        self.consumers: dict[str, list] = defaultdict(list)
        self.producer: dict[str, Any] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers[name].append(node)
            for name in node.output:
                self.producer[name] = node

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            if name not in self.init:
                raise ConversionError(f"{name!r} is not an initializer")
            self._arrays[name] = self._to_array(self.init[name])
        return self._arrays[name]

    def is_init(self, name: str) -> bool:
        return name in self.init

    def only_consumer(self, name: str, ops: tuple[str, ...]):
        found = [n for n in self.consumers[name] if n.op_type in ops]
        if len(found) != 1:
            raise ConversionError(f"expected one {ops} consumer of {name!r}, found {len(found)}")
        return found[0]

    def weight_scale(self, node) -> str:
        """The weight-scale initializer of a ``MatMulInteger``/``ConvInteger``: its output runs
        (through a bias ``Add`` and a ``Cast``) into a ``Mul`` by ``activation_scale *
        weight_scale``; the weight scale is the initializer input of that product."""
        current = node.output[0]
        for _ in range(4):
            nxt = self.only_consumer(current, ("Add", "Cast", "Mul"))
            if nxt.op_type == "Mul":
                factor = next(i for i in nxt.input if i != current)
                product = self.producer.get(factor)
                if product is None or product.op_type != "Mul":
                    raise ConversionError(f"{node.name}: scale {factor!r} is not a Mul product")
                scales = [i for i in product.input if self.is_init(i) and self.array(i).dtype == np.float32]
                if len(scales) != 1:
                    raise ConversionError(f"{node.name}: {len(scales)} weight scales in {product.name}")
                return scales[0]
            current = nxt.output[0]
        raise ConversionError(f"{node.name}: no output scale Mul found")


def _scope_module(node_name: str) -> str:
    """``/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant`` -> ``encoder.text_encoder.cnn.0.0``:
    the scope path without the op name, ``_N`` call suffixes dropped, and a component that
    repeats its parent's qualified name (``cnn.0`` then ``cnn.0.0``) collapsed."""
    parts = [p for p in node_name.split("/")[:-1] if p]
    out: list[str] = []
    for part in parts:
        part = re.sub(r"_\d+$", "", part)
        if out and part.startswith(out[-1] + "."):
            out[-1] = part
        else:
            out.append(part)
    return ".".join(out)


def _kmodel_module(scope: str, modules: set[str]) -> str | None:
    """Map an export scope onto a ``KModel`` module name (None when it is no KModel module)."""
    parts = scope.split(".")
    if not parts or parts[0] not in ("encoder", "decoder"):
        return None
    rest = ".".join(parts[1:])  # the export's encoder/decoder wrappers drop
    for candidate in (rest, f"predictor.{rest}"):  # the predictor's F0/N/shared sit under "encoder"
        if candidate in modules:
            return candidate
    return None


def _kmodel_module_or_scope(node_name: str) -> str:
    scope = _scope_module(node_name)
    parts = scope.split(".")
    return ".".join(parts[1:]) if parts and parts[0] in ("encoder", "decoder") else scope


def _initializer_key(name: str) -> str:
    """Float parameters keep torch names: ``encoder.predictor.X`` -> ``predictor.X``,
    ``decoder.decoder.X`` -> ``decoder.X``."""
    if name.startswith("encoder."):
        return name[len("encoder.") :]
    if name.startswith("decoder.decoder."):
        return name[len("decoder.") :]
    return name


class _StateBuilder:
    def __init__(self, expected: dict[str, tuple[int, ...]]) -> None:
        self.expected = expected
        self.state: dict[str, np.ndarray] = {}
        self.source: dict[str, str] = {}

    def put(self, key: str, value: np.ndarray, source: str) -> None:
        if key not in self.expected:
            raise ConversionError(f"{source} maps to {key!r}, which is no KModel parameter")
        value = np.array(value, dtype=np.float32, order="C", copy=True)  # own, writable memory
        if tuple(value.shape) != self.expected[key]:
            raise ConversionError(f"{source} -> {key}: shape {value.shape}, KModel wants {self.expected[key]}")
        if key in self.state:
            if self.source[key] == source or np.array_equal(self.state[key], value):
                return  # the same weights reached again (ALBERT's shared layer is called 12 times)
            raise ConversionError(f"{key} is filled twice with different values ({self.source[key]}, {source})")
        self.state[key] = value
        self.source[key] = source


def _dequantize(q: np.ndarray, zero_point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) - zero_point.astype(np.float32)) * scale.astype(np.float32)


def _put_conv_weight(builder: _StateBuilder, module: str, weight: np.ndarray, source: str, stats: dict) -> None:
    """Plain ``weight``, or ``weight_v``/``weight_g`` for a weight-normed conv (norm folded)."""
    if f"{module}.weight_v" not in builder.expected:
        builder.put(f"{module}.weight", weight, source)
        return
    w = weight.astype(np.float64)
    norm = np.sqrt((w * w).reshape(w.shape[0], -1).sum(axis=1))
    dead = norm == 0.0
    v = weight.astype(np.float32).copy()
    v[dead] = 1.0
    g = norm.astype(np.float32)
    g[dead] = 0.0
    if dead.any():
        stats["zero_channels"][module] = int(dead.sum())
    builder.put(f"{module}.weight_v", v, source)
    builder.put(f"{module}.weight_g", g.reshape(builder.expected[f"{module}.weight_g"]), source)


def _reorder_gates(array: np.ndarray, axis: int = 0) -> np.ndarray:
    blocks = np.split(array, 4, axis=axis)
    return np.concatenate([blocks[i] for i in _ONNX_TO_TORCH_GATES], axis=axis)


def rebuild_state_dict(onnx_path: Path, kmodel=None) -> tuple[dict[str, Any], dict]:
    """All ``KModel`` state-dict tensors (flat keys such as ``decoder.encode.conv1.weight_g``)
    rebuilt from the int8 ONNX, plus a stats dict describing what was done."""
    import onnx
    import torch

    kmodel = kmodel if kmodel is not None else build_empty_kmodel()
    expected = {k: tuple(v.shape) for k, v in kmodel.state_dict().items()}
    modules = {name for name, _ in kmodel.named_modules() if name}
    graph = _Graph(onnx.load(str(onnx_path)))
    builder = _StateBuilder(expected)
    stats: dict[str, Any] = {"zero_channels": {}, "by_op": defaultdict(int), "ignored_nodes": []}

    def module_of(node) -> str | None:
        module = _kmodel_module(_scope_module(node.name), modules)
        if module is None:
            scope = _kmodel_module_or_scope(node.name)
            if scope.startswith(_IGNORED_MODULES):
                stats["ignored_nodes"].append(node.name)
                return None
            raise ConversionError(f"node {node.name} ({node.op_type}) maps to no KModel module (scope {scope!r})")
        return module

    for node in graph.nodes:
        op = node.op_type
        if op == "MatMulInteger":  # Linear: int8 per output column, [in, out]
            if not graph.is_init(node.input[1]):
                continue  # activation x activation (attention scores): no weight
            module = module_of(node)
            if module is None:
                continue
            q, zp = graph.array(node.input[1]), graph.array(node.input[3])
            scale = graph.array(graph.weight_scale(node))
            builder.put(f"{module}.weight", _dequantize(q, zp, scale).T, node.name)
        elif op == "ConvInteger":  # Conv1d: uint8 per tensor, [out, in, k]
            module = module_of(node)
            if module is None:
                continue
            q, zp = graph.array(node.input[1]), graph.array(node.input[3])
            scale = graph.array(graph.weight_scale(node))
            _put_conv_weight(builder, module, _dequantize(q, zp, scale), node.name, stats)
        elif op in ("Conv", "ConvTranspose") and len(node.input) > 1 and graph.is_init(node.input[1]):
            module = module_of(node)  # float (not quantized), weight norm folded in
            if module is None:
                continue
            _put_conv_weight(builder, module, graph.array(node.input[1]), node.name, stats)
        elif op == "MatMul" and graph.is_init(node.input[1]):  # float Linear, [in, out]
            module = module_of(node)
            if module is None:
                continue
            builder.put(f"{module}.weight", graph.array(node.input[1]).T, node.name)
        elif op == "DequantizeLinear":  # Embedding: Gather on the int8 table, then dequantize
            gather = graph.producer.get(node.input[0])
            if gather is None or gather.op_type != "Gather" or not graph.is_init(gather.input[0]):
                continue
            module = module_of(node)
            if module is None:
                continue
            q = graph.array(gather.input[0])
            scale, zp = graph.array(node.input[1]), graph.array(node.input[2])
            builder.put(f"{module}.weight", _dequantize(q, zp, scale), node.name)
        elif op == "DynamicQuantizeLSTM":
            module = module_of(node)
            if module is None:
                continue
            w, r, b = (graph.array(node.input[i]) for i in (1, 2, 3))
            w_scale, w_zp = graph.array(node.input[8]), graph.array(node.input[9])
            r_scale, r_zp = graph.array(node.input[10]), graph.array(node.input[11])
            hidden4 = w.shape[2]
            for direction, suffix in enumerate(("", "_reverse")):
                w_d = _dequantize(w[direction], w_zp[direction], w_scale[direction]).T
                r_d = _dequantize(r[direction], r_zp[direction], r_scale[direction]).T
                builder.put(f"{module}.weight_ih_l0{suffix}", _reorder_gates(w_d), node.name)
                builder.put(f"{module}.weight_hh_l0{suffix}", _reorder_gates(r_d), node.name)
                builder.put(f"{module}.bias_ih_l0{suffix}", _reorder_gates(b[direction, :hidden4]), node.name)
                builder.put(f"{module}.bias_hh_l0{suffix}", _reorder_gates(b[direction, hidden4:]), node.name)
        else:
            continue
        stats["by_op"][op] += 1

    # Un-quantized float parameters keep their torch names.
    for name, tensor in graph.init.items():
        key = _initializer_key(name)
        if key in expected and key not in builder.state and tensor.data_type == onnx.TensorProto.FLOAT:
            builder.put(key, graph.array(name), f"initializer {name}")
            stats["by_op"]["named float"] += 1

    # Not in the graph: AdaIN InstanceNorm affine parameters (identity) and the unused pooler.
    defaults = []
    for name, module in kmodel.named_modules():
        if isinstance(module, torch.nn.InstanceNorm1d) and module.affine:
            for param, value in (("weight", 1.0), ("bias", 0.0)):
                key = f"{name}.{param}"
                if key not in builder.state:
                    builder.put(key, np.full(expected[key], value, dtype=np.float32), "InstanceNorm identity")
                    defaults.append(key)
    for key in ("bert.pooler.weight", "bert.pooler.bias"):
        if key not in builder.state:
            builder.put(key, np.zeros(expected[key], dtype=np.float32), "unused BERT pooler (zeros)")
            defaults.append(key)
    stats["defaults"] = len(defaults)

    missing = sorted(set(expected) - set(builder.state))
    if missing:
        raise ConversionError(f"{len(missing)} KModel tensors not rebuilt from {onnx_path}: {missing}")
    bad = [k for k, v in builder.state.items() if not np.isfinite(v).all()]
    if bad:
        raise ConversionError(f"non-finite values in {bad}")
    state = {key: torch.from_numpy(builder.state[key]) for key in expected}  # KModel's own key order
    stats["by_op"] = dict(stats["by_op"])
    return state, stats


def checkpoint_layout(state: dict[str, Any], prefix: str = "module.") -> dict[str, dict[str, Any]]:
    """Flat KModel keys -> hexgrad's ``kokoro-v1_0.pth`` layout (module -> prefixed state dict)."""
    layout: dict[str, dict[str, Any]] = {name: {} for name in KMODEL_MODULES}
    for key, tensor in state.items():
        top, _, rest = key.partition(".")
        layout[top][f"{prefix}{rest}"] = tensor
    return layout


def load_strict(kmodel, state: dict[str, Any]) -> None:
    """``load_state_dict(strict=True)``; fails loudly with the missing/unexpected keys."""
    result = kmodel.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ConversionError(
            f"rebuilt checkpoint does not load strictly into KModel: missing {list(result.missing_keys)}, "
            f"unexpected {list(result.unexpected_keys)}"
        )
    kmodel.load_state_dict(state, strict=True)


def sidecar_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".json")


def convert_onnx_to_torch(onnx_path: Path, out_path: Path, onnx_sha256: str | None = None) -> dict:
    """Rebuild the checkpoint from ``onnx_path`` into ``out_path`` (atomically), verify it loads
    with ``strict=True`` into a fresh ``KModel``, and write the provenance sidecar
    ``out_path.with_suffix('.json')`` last. Returns the sidecar's content."""
    import torch

    onnx_path, out_path = Path(onnx_path), Path(out_path)
    started = time.perf_counter()
    source_sha = onnx_sha256 or sha256_file(onnx_path)
    kmodel = build_empty_kmodel()
    state, stats = rebuild_state_dict(onnx_path, kmodel)
    if len(state) != KMODEL_KEY_COUNT:
        raise ConversionError(f"rebuilt {len(state)} tensors, Kokoro-82M has {KMODEL_KEY_COUNT}")
    load_strict(kmodel, state)  # the same check KModel's own loader would skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sidecar = sidecar_path(out_path)
    sidecar.unlink(missing_ok=True)  # a stale marker must never vouch for a half-written file
    # Saved through a file object, the zip's root folder is always "archive": the same
    # tensors give the same bytes whatever the (unique) temporary name.
    with atomic_path(out_path) as tmp, tmp.open("xb") as handle:
        torch.save(checkpoint_layout(state), handle)
    info = {
        "checkpoint": str(out_path),
        "sha256": sha256_file(out_path),
        "size": out_path.stat().st_size,
        "source_onnx": onnx_path.name,
        "source_onnx_sha256": source_sha,
        "converter_version": CONVERTER_VERSION,
        "tensors": len(state),
        "parameters": int(sum(t.numel() for t in state.values())),
        "zeroed_weight_norm_channels": stats["zero_channels"],
        "defaults_filled": stats["defaults"],
        "weights_by_op": stats["by_op"],
        "note": (
            "int8-rounded Kokoro-82M v1.0 weights dequantized from the ONNX export, run with fp32 "
            "activations; not the original fp32 checkpoint. AdaIN InstanceNorm affine = identity "
            "(1, 0); BERT pooler (unused) = zeros."
        ),
        "versions": {p: _version(p) for p in ("onnx", "torch", "kokoro")},
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_text_atomic(sidecar, json.dumps(info, indent=2, sort_keys=True) + "\n")
    log.info(
        "rebuilt torch Kokoro checkpoint %s from %s in %.1f s (%d tensors, %d zeroed channels)",
        out_path,
        onnx_path.name,
        info["seconds"],
        len(state),
        sum(stats["zero_channels"].values()),
    )
    return info


def read_sidecar(checkpoint: Path) -> dict | None:
    try:
        return json.loads(sidecar_path(checkpoint).read_text())
    except (OSError, ValueError):
        return None


def is_current(checkpoint: Path, onnx_sha256: str) -> bool:
    """True when ``checkpoint`` was built by this converter version from the ONNX with this
    sha256 and still has the recorded size (a stat, no hashing)."""
    info = read_sidecar(checkpoint)
    checkpoint = Path(checkpoint)
    return bool(
        info
        and info.get("source_onnx_sha256") == onnx_sha256
        and info.get("converter_version") == CONVERTER_VERSION
        and checkpoint.is_file()
        and checkpoint.stat().st_size == info.get("size")
    )


def ensure_checkpoint(onnx_path: Path, out_path: Path, onnx_sha256: str) -> Path:
    """Build the checkpoint unless an up-to-date one is already there; returns its path.

    Processes that start together (workers on a fresh cache) serialize on a lock file beside
    the checkpoint, so it is converted once and the others reuse it."""
    out_path = Path(out_path)
    if is_current(out_path, onnx_sha256):
        return out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(out_path.with_name(f".{out_path.name}.lock")):
        if not is_current(out_path, onnx_sha256):
            convert_onnx_to_torch(onnx_path, out_path, onnx_sha256)
    return out_path


@contextlib.contextmanager
def _file_lock(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock, writes stay atomic
        yield
        return
    with Path(path).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def assemble_torch_checkpoint(paths: AssetPaths) -> Path:
    """The torch checkpoint rebuilt from the assembled int8 ONNX: converted once (3-15 s on two
    CPU cores), then found by its sidecar, which records the source ONNX's sha256 and the
    converter version (a stat and a small JSON read; no hashing)."""
    onnx_model = assemble_onnx(paths)
    try:
        return ensure_checkpoint(onnx_model, paths.torch_checkpoint, ONNX_SHA256)
    except (ConversionError, ImportError) as exc:
        raise AssetError(f"could not rebuild the Kokoro torch checkpoint from {onnx_model.name}: {exc}") from exc
