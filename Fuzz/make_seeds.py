#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/Corpus/<target>/ (small valid inputs, plus a few near-misses).

Run from the repository root: python3 Fuzz/make_seeds.py. Deterministic; the output is committed, so rerun it only
when the input layout of a target changes. The .pth/.safetensors seeds are copies of test fixtures.
"""
import json, os, shutil, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, path):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    shutil.copy(path, os.path.join(d, os.path.basename(path)))


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def u32(v):
    return struct.pack("<I", v)


# ncnn: u32 LE length of the .param text, the text, then the .bin bytes.
def ncnn(name, layers, weights=b""):
    blobs = {b for line in layers for b in line.split()[4 + int(line.split()[2]):4 + int(line.split()[2]) + int(line.split()[3])]}
    text = "7767517\n%d %d\n" % (len(layers), len(blobs)) + "\n".join(layers) + "\n"
    write("ncnn", name, u32(len(text.encode())) + text.encode() + weights)


conv = "Convolution conv 1 1 data c 0=2 1=1 5=1 6=4"
w4, bias2 = f32(1, -1, 0.5, 2), f32(0.25, -3)
ncnn("conv-fp32", ["Input in 0 1 data", conv, "ReLU relu 1 1 c r", "BinaryOp scale 1 1 r out 0=2 1=1 2=2.0"],
     u32(0) + w4 + bias2)
half = u32(0x01306B47) + struct.pack("<4e", 1, -1, 0.5, 2)
ncnn("conv-fp16", ["Input in 0 1 data", conv + " 9=2 -23310=1,0.1"], half + bias2)
table = [0.0] * 256
table[10:14] = [1, -1, 0.5, 2]
ncnn("conv-table", ["Input in 0 1 data", conv], u32(0x01020304) + f32(*table) + bytes([10, 11, 12, 13]) + bias2)
ncnn("split-eltwise-concat", ["Input in 0 1 data", "Split sp 1 2 data a b", "Eltwise sum 2 1 a b s 0=1 -23301=2,0.5,0.5",
                              "Split sp2 1 2 s c d", "Concat cat 2 1 c d out 0=0"])
ncnn("binary-ops", ["Input in 0 1 data", "Split sp 1 3 data a b c", "BinaryOp add 2 1 a b ab 0=0",
                    "BinaryOp rdiv 2 1 ab c out 0=8"])
ncnn("upsample", ["Input in 0 1 data", "Interp up 1 1 data u 0=2 1=2.0 2=2.0",
                  "PixelShuffle ps 1 1 u p 0=2", "Interp bic 1 1 p out 0=3 3=16 4=16 6=1"])
ncnn("deconv-dw", ["Input in 0 1 data", "ConvolutionDepthWise dw 1 1 data d 0=2 1=3 4=1 5=0 6=18 7=2",
                   "Deconvolution up 1 1 d out 0=1 1=2 3=2 5=1 6=8 18=1"],
     u32(0) + f32(*([0.1] * 18)) + u32(0) + f32(*([0.2] * 8)) + f32(0.5))
ncnn("prelu-memdata", ["Input in 0 1 data", "PReLU pr 1 1 data p 0=2", "MemoryData md 0 1 m 0=1 1=1 2=2",
                       "BinaryOp mul 2 1 p m out 0=2"], f32(0.1, 0.2) + f32(3, 4))
ncnn("crop-pool-linear", ["Input in 0 1 data", "Crop cr 1 1 data c -23309=1,1 -23310=1,-1 -23311=1,1",
                          "Pooling pool 1 1 c p 0=1 4=1", "InnerProduct fc 1 1 p out 0=2 1=1 2=4"],
     u32(0) + f32(1, 2, 3, 4) + f32(0, 0))
ncnn("activations", ["Input in 0 1 data", "Sigmoid s 1 1 data a", "Swish w 1 1 a b", "Clip c 1 1 b d 0=-1.0 1=1.0",
                     "Pooling mp 1 1 d e 0=0 1=2 2=2", "Dropout dr 1 1 e out"])
ncnn("param-only", ["Input in 0 1 data", conv])   # weights missing: a truncated .bin

# pytorch: whole .pth files (zip and legacy), from the SRWeights test fixtures.
torch = os.path.join(ROOT, "Tests", "SRWeightsTests", "Fixtures", "torch")
for n in sorted(os.listdir(torch)):
    if n.endswith(".pth"):
        copy("pytorch", os.path.join(torch, n))
copy("pytorch", os.path.join(ROOT, "Tests", "SRModelsTests", "Fixtures", "fsrcnn_x2.pth"))

# safetensors: u64 LE header length, JSON header, data.
def safetensors(name, tensors, metadata=None, pad=0):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for key, dtype, shape, raw in tensors:
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    write("safetensors", name, struct.pack("<Q", len(text)) + text + data)


safetensors("f32", [("conv.weight", "F32", [2, 1, 1, 2], f32(1, 2, 3, 4)), ("conv.bias", "F32", [2], f32(0.5, -0.5))],
            {"format": "pt"})
safetensors("mixed-dtypes", [("a", "F64", [1], struct.pack("<d", 1.5)), ("b", "F32", [1], f32(2)),
                             ("c", "F16", [2], struct.pack("<2e", 1, -2)), ("d", "BF16", [1], b"\x80\x3f"),
                             ("e", "I8", [3], b"\x01\xff\x02"), ("f", "BOOL", [1], b"\x01")], pad=3)
safetensors("scalar-and-empty", [("s", "F32", [], f32(7)), ("z", "F32", [0, 3], b"")])
safetensors("empty", [], {})
copy("safetensors", os.path.join(torch, "model.safetensors"))
copy("safetensors", os.path.join(ROOT, "Tests", "SRModelsTests", "Fixtures", "srvgg_x2_relu.safetensors"))

# upload: byte 0 chunk size (0: one chunk), byte 1 flags (bit 0 allowRaw), Content-Type, '\n', body.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55")


def part(name, value, filename=None, ctype=None):
    disp = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
    head = "Content-Disposition: %s\r\n" % disp + ("Content-Type: %s\r\n" % ctype if ctype else "")
    return b"--B0undary\r\n" + head.encode() + b"\r\n" + value + b"\r\n"


def upload(name, body, chunk=0, allow_raw=1, ctype="multipart/form-data; boundary=B0undary"):
    write("upload", name, bytes([chunk, allow_raw]) + ctype.encode() + b"\n" + body)


END = b"--B0undary--\r\n"
good = part("image", PNG, "a.png", "image/png") + part("scale", b"2.5") + part("model", b"realesr-animevideov3-x4") + END
upload("good", good)
upload("good-chunked-7", good, chunk=7)
upload("good-quoted-boundary", good, chunk=1, ctype='multipart/form-data; charset=utf-8; boundary="B0undary"')
upload("missing-image", part("scale", b"2") + END)
upload("file-under-other-name", part("photo", PNG, "a.png") + END)
upload("two-images", part("image", PNG, "a.png") + part("image", PNG, "b.png") + END, chunk=13)
upload("field-too-long", part("image", PNG) + part("scale", b"9" * 1100) + END)
upload("field-not-utf8", part("image", PNG) + part("scale", b"\xff\xfe") + END)
upload("truncated", good[:len(good) // 2])
upload("wrong-boundary", good.replace(b"B0undary", b"Other"))
upload("no-boundary", good, ctype="multipart/form-data")
upload("raw-png", PNG, ctype="image/png")
upload("raw-refused", PNG, allow_raw=0, ctype="application/octet-stream")

# outputsize: the text, '\n', a selector byte, then Int64 LE input width, height, native scale, max pixels, a, b.
def size(name, text, selector=0, *values):
    tail = b"\n" + bytes([selector]) + b"".join(struct.pack("<q", v) for v in values) if (selector or values) else b""
    write("outputsize", name, text.encode() + tail)


for i, t in enumerate(["native", "2.5", "x3", "3x", ".5", "1e-2", "16", "0.29", "1920:1080", "1920:0", "1920:-1",
                       "0:1080", "1921:-2", "-2:1081", "long:1000", " LONG : 7 ", "1920x1080", "nan", "-9223372036854775808:1"]):
    size("text-%02d" % i, t)
size("sizes-wide", "2.5", 0, 50, 7, 4, 1_000_000, 0, 0)
size("direct-factor", "native", 1, 640, 480, 4, 250_000_000, 0x4004000000000000, 0)
size("direct-multiple", "1:1", 5, 3, 9_000_000_000, 2, 2**62, 2**40, 3)
size("options", "2", 0b01011000 | 7, 640, 480, 4, 250_000_000, 1920, -2)
