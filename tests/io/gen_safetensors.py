#!/usr/bin/python3
"""gen_safetensors.py: the safetensors reference fixture, written by hand from
the format spec (https://github.com/huggingface/safetensors, README "Format"),
independently of the C writer; python3-safetensors is not packaged here.

  /usr/bin/python3 tests/io/gen_safetensors.py            # writes tests/fixtures/io/reference.safetensors
  /usr/bin/python3 tests/io/gen_safetensors.py --check F  # parses F (e.g. written by C) and checks every value

Layout: u64 little-endian header length N, N bytes of compact UTF-8 JSON padded
with spaces to a multiple of 8 (as the reference writer pads), then the tensors'
bytes back to back in header order. tests/io/test_safetensors.c holds the same
table and expects the C writer to produce these exact bytes.
"""
import json
import os
import struct
import sys

# (name, dtype, shape, values); element sizes decrease so every tensor is aligned.
TENSORS = [
    ("feat.mean", "F64", [3], [0.5, -1.25, 1e-300]),
    ("counts", "I64", [2, 2], [1, -2, 2**40, -(2**62)]),
    ("conv1.weight", "F32", [2, 1, 2, 3], [i * 0.5 - 3 for i in range(12)]),
    ("temperature", "F32", [], [3.25]),
    ("empty", "F32", [0, 4], []),
    ("labels", "I32", [3], [0, -7, 2147483647]),
    ("half", "F16", [4], [1.0, -2.5, 65504.0, 2.0**-14]),
    ("bf", "BF16", [3], [1.0, -3.0, 0.15625]),
    ('\u00fcn\u00ef/w\u00e9ight "q"', "I16", [2], [-32768, 12345]),
    ("mask", "U8", [5], [0, 1, 127, 128, 255]),
    ("i8", "I8", [3], [-128, 0, 127]),
    ("flags", "BOOL", [2, 2], [1, 0, 0, 1]),
]
METADATA = [
    ("format", "pt"),
    ("labels", "angry,happy,neutral,sad"),
    ("note", '\u00e9motion\ttab "quoted"\n'),
]
FMT = {"F64": "d", "I64": "q", "F32": "f", "I32": "i", "F16": "e", "I16": "h", "U8": "B", "I8": "b", "BOOL": "B"}
SIZE = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "U8": 1, "I8": 1, "BOOL": 1}


def encode(dtype, values):
    if dtype == "BF16":  # bfloat16 = the high half of the float32 (these values are exact)
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    return struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)


def decode(dtype, data):
    n = len(data) // SIZE[dtype]
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + data[2 * i:2 * i + 2])[0] for i in range(n)]
    return list(struct.unpack("<%d%s" % (n, FMT[dtype]), data))


def build():
    header, blobs, offset = {}, [], 0
    if METADATA:
        header["__metadata__"] = dict(METADATA)
    for name, dtype, shape, values in TENSORS:
        blob = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate keys %r" % keys)
    return dict(pairs)


def check(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    buf = data[8 + n:]
    assert (8 + n) % 8 == 0, "data not 8-aligned"
    meta = header.pop("__metadata__", {})
    assert list(meta.items()) == METADATA, meta
    spans = sorted(tuple(e["data_offsets"]) for e in header.values())
    pos = 0
    for b, e in spans:
        assert b == pos, "hole or overlap at %d" % b
        pos = e
    assert pos == len(buf), "buffer not covered"
    assert list(header) == [t[0] for t in TENSORS], list(header)
    for name, dtype, shape, values in TENSORS:
        e = header[name]
        assert e["dtype"] == dtype and e["shape"] == shape, (name, e)
        b, end = e["data_offsets"]
        got = decode(dtype, buf[b:end])
        assert got == [float(v) if dtype.startswith(("F", "BF")) else v for v in values], (name, got)
    assert data == build(), "bytes differ from this script's own serialisation"
    print("%s: ok, %d tensors, %d metadata keys, byte-identical to the reference" % (path, len(header), len(meta)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    out = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "io", "reference.safetensors"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(build())
    check(out)


if __name__ == "__main__":
    main()
