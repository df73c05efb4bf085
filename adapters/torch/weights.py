"""A team's weights file as it comes: a state dict, a checkpoint dict holding one, DataParallel/DDP or torch.compile
prefixes, or safetensors. TorchScript and whole pickled modules are refused with the line that fixes them.

Everything is read with `weights_only=True` (or safetensors, which holds tensors only); what is stored is the plain
state dict, so every process loads a version the same way."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile

import torch

SAVE_STATE_DICT = "save the weights with torch.save(model.state_dict(), path)"
# where training scripts put the model's state dict inside a checkpoint, most common first
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "model_state", "net", "network", "weights", "params")
PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DistributedDataParallel, torch.compile


def read_weights_file(data: bytes) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict a weights file holds, and what was done to find it (one short sentence each)."""
    if _is_safetensors(data):
        state, notes = _safetensors(data), ["read a safetensors file"]
    else:
        state, notes = _torch_file(data)
    state, stripped = strip_prefixes(state)
    notes += stripped
    check_finite(state)
    return state, notes


def load_state_dict(artifact: bytes) -> dict[str, torch.Tensor]:
    """A stored artifact: a plain state dict saved with torch.save, loaded with weights_only=True."""
    state = _torch_load(artifact)
    if not _is_state_dict(state):
        raise ValueError("the file holds no state dict of tensors")
    check_finite(state)
    return state


def strip_prefixes(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Removes a prefix that every key carries (DataParallel's `module.`, torch.compile's `_orig_mod.`)."""
    notes = []
    for prefix in PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
            notes.append(f"stripped the {prefix!r} prefix from every key")
    return state, notes


def check_finite(state: dict[str, torch.Tensor]) -> None:
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the weights hold NaN or infinite values (first: {key})")


def _torch_file(data: bytes) -> tuple[dict[str, torch.Tensor], list[str]]:
    if _is_torchscript(data):
        raise ValueError(f"the file is a TorchScript archive, not a state dict: {SAVE_STATE_DICT} "
                         "(for a scripted model, torch.jit.load(path).state_dict())")
    loaded = _torch_load(data)
    if _is_state_dict(loaded):
        return loaded, []
    if isinstance(loaded, dict):
        for key in CHECKPOINT_KEYS:
            if _is_state_dict(loaded.get(key)):
                return loaded[key], [f"used the checkpoint's {key!r} entry"]
        found = ", ".join(repr(k) for k in list(loaded)[:8])
        raise ValueError(f"the checkpoint holds no state dict under a known key (it has {found}; looked for "
                         f"{', '.join(CHECKPOINT_KEYS)}): {SAVE_STATE_DICT}")
    raise ValueError(f"the file holds a {type(loaded).__name__}, not a state dict of tensors: {SAVE_STATE_DICT}")


def _torch_load(data: bytes) -> object:
    """torch.load with weights_only=True. The bytes are untrusted: anything torch's parser raises on them (and it
    raises many kinds of errors on corrupt input) is a refusal in one sentence."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError("the file is not a PyTorch weights file (torch.save's zip format) nor safetensors")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a corrupt archive surfaces as IndexError, KeyError, struct.error, ...
        raise ValueError(
            "the file does not load with weights_only=True: it is not a PyTorch weights file, or it holds code or "
            f"objects other than tensors (a whole model saved with torch.save(model)?): {SAVE_STATE_DICT}"
        ) from None


def _is_state_dict(value: object) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def _is_torchscript(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return any(name.endswith("constants.pkl") or "/code/" in name for name in names)


def _is_safetensors(data: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header."""
    if len(data) < 10:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    return 2 <= length <= len(data) - 8 and data[8:9] == b"{"


def _safetensors(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
        state = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"the safetensors file does not load: {str(error).splitlines()[0][:200]}") from None
    if not state:
        raise ValueError("the safetensors file holds no tensor")
    return state
