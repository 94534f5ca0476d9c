#!/usr/bin/python3
"""mkmodel.py: a llama-architecture GGUF with random F16 weights, for
scripts/arm-profile.sh (instruction counts do not depend on what the
weights are, only on the shapes and types).

usage: mkmodel.py SHAPE VOCAB.gguf OUT.gguf
  SHAPE  tinyllama (TinyLlama-1.1B: 2048 wide, 22 layers, 32 heads, 4 KV
         heads, FFN 5632) or mobilellm (MobileLLM-125M: 576, 30, 9, 3, 1536,
         output tied to the token embedding)
The tokenizer.* entries are copied byte for byte from VOCAB.gguf (e.g.
llama.cpp's models/ggml-vocab-llama-spm.gguf); quantize the result with
llama-quantize.
"""
import struct
import sys

import numpy as np

SHAPES = {  # width, layers, heads, kv heads, ffn, tied output
    "tinyllama": (2048, 22, 32, 4, 5632, False),
    "mobilellm": (576, 30, 9, 3, 1536, True),
}
# GGUF value types and the byte size of the fixed-size ones
U32, F32, STR, ARR = 4, 6, 8, 9
FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def tokenizer_entries(path):
    """The raw bytes (key, type, value) of every tokenizer.* entry."""
    data = open(path, "rb").read()
    assert data[:4] == b"GGUF", path
    _, _, n_kv = struct.unpack_from("<IQQ", data, 4)
    pos = 24

    def skip_value(t, p):
        if t in FIXED:
            return p + FIXED[t]
        if t == STR:
            return p + 8 + struct.unpack_from("<Q", data, p)[0]
        et, n = struct.unpack_from("<IQ", data, p)
        p += 12
        if et in FIXED:
            return p + n * FIXED[et]
        for _ in range(n):
            p = skip_value(et, p)
        return p

    out = []
    for _ in range(n_kv):
        start = pos
        klen = struct.unpack_from("<Q", data, pos)[0]
        key = data[pos + 8:pos + 8 + klen].decode()
        pos += 8 + klen
        t = struct.unpack_from("<I", data, pos)[0]
        pos = skip_value(t, pos + 4)
        if key.startswith("tokenizer."):
            out.append((key, data[start:pos]))
        if key == "tokenizer.ggml.tokens":
            n_vocab = struct.unpack_from("<Q", data, start + 8 + klen + 8)[0]
    return out, n_vocab


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, t, value):
    if t == STR:
        return gstr(key) + struct.pack("<I", t) + gstr(value)
    return gstr(key) + struct.pack("<I", t) + struct.pack("<I" if t == U32 else "<f", value)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in SHAPES:
        sys.exit(__doc__)
    shape, vocab_path, out_path = sys.argv[1:]
    width, layers, heads, kv_heads, ffn, tied = SHAPES[shape]
    head = width // heads
    tok, n_vocab = tokenizer_entries(vocab_path)
    rng = np.random.default_rng(7)

    def matrix(rows, cols):     # stored row-major; GGUF lists dims innermost first
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float16)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)

    tensors = [("token_embd.weight", rng.standard_normal((n_vocab, width), dtype=np.float32).astype(np.float16))]
    for i in range(layers):
        tensors += [
            (f"blk.{i}.attn_norm.weight", norm(width)),
            (f"blk.{i}.attn_q.weight", matrix(heads * head, width)),
            (f"blk.{i}.attn_k.weight", matrix(kv_heads * head, width)),
            (f"blk.{i}.attn_v.weight", matrix(kv_heads * head, width)),
            (f"blk.{i}.attn_output.weight", matrix(width, heads * head)),
            (f"blk.{i}.ffn_norm.weight", norm(width)),
            (f"blk.{i}.ffn_gate.weight", matrix(ffn, width)),
            (f"blk.{i}.ffn_up.weight", matrix(ffn, width)),
            (f"blk.{i}.ffn_down.weight", matrix(width, ffn)),
        ]
    tensors.append(("output_norm.weight", norm(width)))
    if not tied:
        tensors.append(("output.weight", matrix(n_vocab, width)))

    meta = [
        kv("general.architecture", STR, "llama"),
        kv("general.name", STR, f"random-{shape}"),
        kv("general.file_type", U32, 1),
        kv("llama.context_length", U32, 2048),
        kv("llama.embedding_length", U32, width),
        kv("llama.block_count", U32, layers),
        kv("llama.feed_forward_length", U32, ffn),
        kv("llama.attention.head_count", U32, heads),
        kv("llama.attention.head_count_kv", U32, kv_heads),
        kv("llama.rope.dimension_count", U32, head),
        kv("llama.rope.freq_base", F32, 10000.0),
        kv("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
    ] + [raw for _, raw in tok]
    align = 32
    infos, offset = [], 0
    for name, a in tensors:
        dims = a.shape[::-1]
        infos.append(gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
                     + struct.pack("<IQ", 1 if a.dtype == np.float16 else 0, offset))
        offset += -(-a.nbytes // align) * align
    head_bytes = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + b"".join(infos)
    with open(out_path, "wb") as f:
        f.write(head_bytes + bytes(-len(head_bytes) % align))
        for _, a in tensors:
            f.write(a.tobytes())
            f.write(bytes(-a.nbytes % align))
    print(f"{out_path}: {shape}, vocab {n_vocab}, {sum(a.size for _, a in tensors) / 1e6:.0f}M parameters")


if __name__ == "__main__":
    main()
