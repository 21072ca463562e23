#!/usr/bin/python3
"""Generate the PyTorch / safetensors fixtures of Tests/SRWeightsTests.

Writes small checkpoints (a few KB each) into ``Tests/SRWeightsTests/Fixtures/torch/`` and ``expected.json``,
which lists, per file, every tensor in file order with its dtype, shape and values (as float), plus metadata:

* ``plain.pth``             zip format, an OrderedDict of fp32 tensors including a transposed view, views with
                            storage offsets (two tensors sharing one storage), a strided slice, a 0-d tensor, an
                            int64 counter and an empty tensor
* ``protocol4.pth``         the same dict saved with ``pickle_protocol=4`` (FRAME, SHORT_BINUNICODE, MEMOIZE,
                            STACK_GLOBAL)
* ``legacy.pth``            the same dict in the pre-1.6 format (``_use_new_zipfile_serialization=False``)
* ``wrapped.pth``           BasicSR-style ``{"params_ema": ..., "params": ..., "iter": 1000}`` with ``module.``
                            prefixes
* ``dtypes.pth``            fp16, bf16, fp64 and integer / bool tensors
* ``compressed.pth``        ``plain.pth`` re-zipped with deflate (must be refused)
* ``forbidden_reduce.pth``  a zip whose data.pkl calls ``os.system`` through REDUCE (must be refused)
* ``forbidden_class.pth``   a zip whose data.pkl instantiates ``__main__.Evil`` through NEWOBJ (must be refused)
* ``model.safetensors``     F32 / F16 / BF16 tensors and ``__metadata__``, written with the ``safetensors`` package
                            when it is importable, else by this script following the format

Output is reproducible except ``legacy.pth``, whose storage keys are memory addresses.
The two malicious pickles are assembled byte by byte: generating them runs nothing, and they are never unpickled
here.

Requirements: PyTorch for the system Python (``apt-get install -y python3-torch``; run this with
``/usr/bin/python3``, as the ``python3`` on PATH may lack torch). Optional: ``safetensors`` (for example in a
``python3 -m venv --system-site-packages`` environment). Run by developers, not by CI:

    /usr/bin/python3 scripts/make_torch_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import struct
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "SRWeightsTests", "Fixtures", "torch")
FIXED_TIME = (2024, 1, 1, 0, 0, 0)

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def plain_dict() -> collections.OrderedDict:
    """fp32 tensors, several of them views that torch.save stores with offsets and strides."""
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.arange(54, dtype=torch.float32).reshape(2, 3, 3, 3) * 0.01 - 0.2
    sd["conv.bias"] = torch.tensor([0.5, -0.25])
    sd["transposed"] = (torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8).t()   # stride (1, 4)
    shared = torch.arange(10, dtype=torch.float32) * 1.5
    sd["shared.whole"] = shared
    sd["shared.offset"] = shared[3:7]                                                  # offset 3 into the same storage
    sd["shared.row"] = shared.view(2, 5)[1]                                            # offset 5
    sd["strided"] = (torch.arange(24, dtype=torch.float32) - 12).reshape(4, 6)[1:, ::2]  # offset 6, stride (6, 2)
    sd["scalar"] = torch.tensor(3.25)
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def wrapped_dict() -> dict:
    ema = collections.OrderedDict()
    ema["module.conv.weight"] = torch.linspace(-1, 1, 12).reshape(2, 6)
    ema["module.conv.bias"] = torch.tensor([0.125, 0.25])
    raw = collections.OrderedDict((k, v * 0 + 9) for k, v in ema.items())
    return {"params": raw, "params_ema": ema, "iter": 1000, "note": "fixture"}


def dtypes_dict() -> collections.OrderedDict:
    values = [0.1, -2.5, 65504.0, 1e-4, 3.0]
    sd = collections.OrderedDict()
    sd["half"] = torch.tensor(values, dtype=torch.float16)
    sd["bf16"] = torch.tensor(values[:2] + [1e30, 1e-4, 3.0], dtype=torch.bfloat16)
    sd["half.transposed"] = torch.arange(6, dtype=torch.float16).reshape(2, 3).t()
    sd["double"] = torch.tensor([1.0 / 3, -1e10], dtype=torch.float64)
    sd["int32"] = torch.tensor([-7, 2**31 - 1], dtype=torch.int32)
    sd["int16"] = torch.tensor([-300, 300], dtype=torch.int16)
    sd["int8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["uint8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    return sd


def describe(obj, path=()) -> tuple[list, dict]:
    """Every tensor of a (nested) checkpoint in order, as the Swift reader should report it, and the metadata."""
    tensors, metadata = [], {}
    for key, value in obj.items():
        p = path + (str(key),)
        if isinstance(value, torch.Tensor):
            tensors.append({"path": list(p), "dtype": DTYPE_NAMES[value.dtype], "shape": list(value.shape),
                            "values": value.double().flatten().tolist()})
        elif isinstance(value, dict):
            t, _ = describe(value, p)
            tensors += t
        elif not path and isinstance(value, (str, int, float)):
            metadata[str(key)] = str(value)
    return tensors, metadata


def save_zip(obj, path, **kwargs) -> None:
    torch.save(obj, path, **kwargs)


def stored_zip(path: str, entries: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = compression
            z.writestr(info, data)


def binunicode(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def forbidden_reduce_pickle() -> bytes:
    """{'w': os.system('echo pwned')}, protocol 2, as torch would lay out a dict."""
    return (b"\x80\x02" + b"}q\x00" + binunicode("w") + b"q\x01"
            + b"cos\nsystem\nq\x02" + binunicode("echo pwned") + b"q\x03\x85q\x04Rq\x05" + b"s.")


def forbidden_class_pickle() -> bytes:
    """{'net': __main__.Evil()} built with NEWOBJ, as pickling an instance of a custom class would be."""
    return (b"\x80\x02" + b"}q\x00" + binunicode("net") + b"q\x01"
            + b"c__main__\nEvil\nq\x02)\x81q\x03}q\x04bs.")


def write_safetensors(path: str, tensors: dict, metadata: dict) -> str:
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(tensors, path, metadata=metadata)
        return "safetensors package"
    # The format by hand: u64 LE header length, JSON header padded with spaces to 8 bytes, then the data.
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0])):
        data = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    return "by hand"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)
    expected = {}

    def record(name, obj):
        tensors, metadata = describe(obj)
        expected[name] = {"tensors": tensors, "metadata": metadata}

    save_zip(plain_dict(), out("plain.pth"))
    record("plain.pth", plain_dict())
    save_zip(plain_dict(), out("protocol4.pth"), pickle_protocol=4)
    record("protocol4.pth", plain_dict())
    save_zip(plain_dict(), out("legacy.pth"), _use_new_zipfile_serialization=False)
    record("legacy.pth", plain_dict())
    save_zip(wrapped_dict(), out("wrapped.pth"))
    record("wrapped.pth", wrapped_dict())
    save_zip(dtypes_dict(), out("dtypes.pth"))
    record("dtypes.pth", dtypes_dict())

    with zipfile.ZipFile(out("plain.pth")) as z:
        entries = [(i.filename.replace("plain/", "compressed/", 1), z.read(i)) for i in z.infolist()]
    stored_zip(out("compressed.pth"), entries, compression=zipfile.ZIP_DEFLATED)
    stored_zip(out("forbidden_reduce.pth"), [("forbidden_reduce/data.pkl", forbidden_reduce_pickle()),
                                              ("forbidden_reduce/version", b"3\n")])
    stored_zip(out("forbidden_class.pth"), [("forbidden_class/data.pkl", forbidden_class_pickle()),
                                             ("forbidden_class/version", b"3\n")])

    st = collections.OrderedDict()
    st["conv.weight"] = torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2) / 16 - 0.5
    st["conv.bias"] = torch.tensor([1.5, -1.5])
    st["half"] = torch.tensor([0.5, -0.125, 1000.0], dtype=torch.float16)
    st["bf16"] = torch.tensor([0.5, -3.0, 1e20], dtype=torch.bfloat16)
    st["counter"] = torch.tensor([3], dtype=torch.int64)
    metadata = {"format": "pt", "arch": "fixture"}
    how = write_safetensors(out("model.safetensors"), dict(st), metadata)
    tensors, _ = describe(st)
    # Readers return safetensors tensors in data order, which the writer chose.
    with open(out("model.safetensors"), "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    tensors.sort(key=lambda t: header[t["path"][0]]["data_offsets"][0])
    expected["model.safetensors"] = {"tensors": tensors, "metadata": metadata}

    with open(out("expected.json"), "w") as f:
        json.dump({"torch": torch.__version__, "files": expected}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote fixtures to {args.out} (torch {torch.__version__}, safetensors {how})")


if __name__ == "__main__":
    main()
