"""Reading model files the user names, with messages that say what was expected and what was found.

Shared by the Whisper and EnCodec loaders and by "Import local weights…": a model argument is a local path only
when it clearly is one (`looks_like_path`), so `--model base` is the official base model even where a folder
`./base` exists.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

from studio.hub.ctranslate2 import CheckpointError
from studio.outputs import describe_os_error

WEIGHT_SUFFIXES = (".pt", ".pth", ".th", ".bin", ".safetensors", ".ckpt")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_path(source: str) -> bool:
    """True when `source` can only mean a file or folder: it contains a path separator, starts with . or ~, is
    absolute, or ends in a weights suffix. A bare word (base, small.en, 24khz) is a model name."""
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    return (any(s in source for s in seps) or source.startswith((".", "~")) or os.path.isabs(source)
            or source.lower().endswith(WEIGHT_SUFFIXES))


def is_repo_id(source: str) -> bool:
    """`owner/name` as the Hugging Face Hub spells repositories (no suffix, no leading . or ~)."""
    return bool(_REPO_ID.match(source)) and not source.lower().endswith(WEIGHT_SUFFIXES)


def not_a_path(source: str, what: str, remedy: str) -> CheckpointError:
    """The message for a path-like model argument that names nothing on disk."""
    return CheckpointError(f"The {what} '{source}' does not exist.", remedy)


def folder_listing(folder: Path, limit: int = 6) -> str:
    """'a.txt, b.bin and 3 more' or 'nothing' — what a folder that is not a model holds."""
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    except OSError:
        return "nothing readable"
    if not names:
        return "nothing (the folder is empty)"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:120]}" if text else type(e).__name__


def torch_load(path: Path, expected: str, remedy: str, mmap: bool = False) -> object:
    """`torch.load(weights_only=True)` of a user's file: never unpickles code; a file that is not a PyTorch
    checkpoint (random bytes, text, zero bytes, a truncated zip) is a CheckpointError naming what was expected.
    `mmap`: map a zip checkpoint's tensors from the file instead of reading them into memory (the legacy
    pre-zip format cannot be mapped and is read)."""
    import torch

    try:
        size = path.stat().st_size
    except OSError as e:
        raise describe_os_error(e, path, "read") from e
    if size == 0:
        raise CheckpointError(f"'{path.name}' is empty (0 bytes); expected {expected}.", remedy)
    try:
        if mmap and _is_zip(path):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, MemoryError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise describe_os_error(e, path, "read") from e
        raise CheckpointError(f"'{path.name}' could not be read ({first_line(e)}); expected {expected}.",
                              remedy) from e
    except Exception as e:  # UnpicklingError, RuntimeError (zip reader), EOFError, ValueError, ...: all "not this"
        why = ("its bytes are not tensors that torch loads without running code"
               if isinstance(e, pickle.UnpicklingError) else "its zip index is missing: the file is cut short or "
               "damaged" if "central directory" in str(e) else first_line(e))
        raise CheckpointError(f"'{path.name}' is not a PyTorch checkpoint ({why}); expected {expected}.",
                              remedy) from e


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def describe_contents(obj: object) -> str:
    """What a loaded checkpoint holds, in words, for 'expected X, found Y' messages."""
    if isinstance(obj, dict):
        keys = [str(k) for k in obj]
        if {"dims", "model_state_dict"} <= set(keys):
            return "an openai-whisper checkpoint"
        if any(k.startswith("quantizer.vq.layers.") for k in keys) or any(k.startswith("encoder.model.")
                                                                         for k in keys):
            return "an EnCodec checkpoint (release layout)"
        if any(k.startswith("quantizer.layers.") for k in keys):
            return "an EnCodec state dict (Hugging Face or Voice Studio layout)"
        if any(k.startswith(("model.encoder.layers.", "model.decoder.layers.")) for k in keys):
            return "a Hugging Face Whisper state dict"
        if any(k.startswith(("ar_decoder.", "nar_decoder.")) for k in keys):
            return "a VALL-E X state dict"
        if any(k.startswith("encoder.blocks.") for k in keys):
            return "a bare Whisper state dict without its dimensions"
        if not keys:
            return "an empty dictionary"
        return f"a dictionary of {len(keys)} entries ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
    return f"a {type(obj).__name__}"


def read_json(path: Path, what: str, remedy: str) -> dict:
    """A config.json as a dict, or a CheckpointError that says it is missing, unreadable or not an object."""
    if not path.exists():
        raise CheckpointError(f"'{path.parent.name}' has no {path.name}; expected {what}.", remedy)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise describe_os_error(e, path, "read") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"'{path}' is not valid JSON ({first_line(e)}); expected {what}.", remedy) from e
    if not isinstance(data, dict):
        raise CheckpointError(f"'{path}' holds a JSON {type(data).__name__}, expected {what}.", remedy)
    return data


def load_safetensors(files: list[Path], remedy: str) -> dict:
    """Tensors of every file, or a CheckpointError naming the damaged one."""
    from safetensors.torch import load_file

    state: dict = {}
    for f in files:
        if not f.exists():
            raise CheckpointError(f"'{f.parent.name}' lacks {f.name}.", remedy)
        try:
            state.update(load_file(str(f)))
        except OSError as e:
            raise describe_os_error(e, f, "read") from e
        except Exception as e:  # safetensors raises its own SafetensorError for damaged headers and data
            raise CheckpointError(f"'{f}' is not a readable safetensors file ({first_line(e)}).", remedy) from e
    return state


def state_dict_of(obj: object, path: Path, expected: str, remedy: str) -> dict:
    """A {name: tensor} dict (a pytorch_model.bin or a release .th), or a CheckpointError saying what was found."""
    import torch

    if isinstance(obj, dict) and obj and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                             for k, v in obj.items()):
        return obj
    raise CheckpointError(f"'{path.name}' holds {describe_contents(obj)}; expected {expected}.", remedy)


def check_finite(state: dict, what: str) -> None:
    """Damage inside the weights (bytes overwritten in a model.bin) shows as NaN or infinite values: refuse them
    rather than transcribe or decode garbage."""
    import torch

    for name, t in state.items():
        # the sum is NaN or infinite exactly when an element is (weights are far below float32's overflow), and
        # needs no tensor-sized temporaries: torch.isfinite(t) raised the peak of loading tiny.en by 130 MB
        if t.is_floating_point() and not bool(torch.isfinite(t.sum())):
            raise CheckpointError(f"The {what} is damaged: tensor {name} holds NaN or infinite values.",
                                  "Download, copy or convert the model again.")
