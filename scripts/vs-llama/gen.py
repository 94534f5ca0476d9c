"""gen.py: a random-weight GGUF of one model family at a chosen shape.

    gen.py TEMPLATE.gguf OUT.gguf E L H HKV D FF ROT TIED [EXTRA_TOKENS] [SEED]

The architecture, tokenizer and tensor set come from TEMPLATE (an F32 oracle
model of ../shared/oracle/models); widths, heads, head size, FFN width and
rotary dimensions are replaced, EXTRA_TOKENS tokens are appended to the
vocabulary (odd vocab sizes). Needs numpy and llama.cpp's gguf-py on
PYTHONPATH. Environment: LONGROPE=1 adds Phi-3 LongRoPE factors and a 128k
context; LINEAR=F adds linear rope scaling by F; ROPE_FREQS=1 adds Llama 3's
rope_freqs.weight (per-pair frequency divisors, as convert_hf_to_gguf.py
writes for rope_scaling "llama3"); GEMMA2=1 turns a gemma template into
Gemma 2 (post-norms, soft-capping 50/30 unless ATTN_CAP/FINAL_CAP, sliding
window SWA, default 4096; llama.cpp runs it only with 26, 42 or 46 layers).
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as VT

tpl, out = sys.argv[1], sys.argv[2]
E, L, H, HKV, D, FF, ROT = map(int, sys.argv[3:10])
tied = sys.argv[10] == "1"
extra = int(sys.argv[11]) if len(sys.argv) > 11 else 0
rng = np.random.default_rng(int(sys.argv[12]) if len(sys.argv) > 12 else 1)

r = gguf.GGUFReader(tpl)
af = r.fields["general.architecture"]
tpl_arch = bytes(af.parts[af.data[0]]).decode()
arch = "gemma2" if os.environ.get("GEMMA2") else tpl_arch
w = gguf.GGUFWriter(out, arch)
shape_keys = {
    "embedding_length": E, "block_count": L, "feed_forward_length": FF, "attention.head_count": H,
    "attention.head_count_kv": HKV, "rope.dimension_count": ROT, "attention.key_length": D,
    "attention.value_length": D,
}
over = {f"{arch}.{k}": v for k, v in shape_keys.items()}
if os.environ.get("LONGROPE"):
    over[f"{arch}.context_length"] = 131072
for k, f in r.fields.items():
    if k.startswith("GGUF.") or k == "general.architecture":
        continue
    t = f.types[0]
    if k.startswith(tpl_arch + "."):
        k = arch + k[len(tpl_arch):]
    if k in over:
        w.add_key_value(k, over.pop(k), t)
    elif t == VT.ARRAY:
        val = [bytes(f.parts[i]) if f.types[1] == VT.STRING else f.parts[i][0].item() for i in f.data]
        val += {"tokenizer.ggml.tokens": [f"<x{i}>".encode() for i in range(extra)],
                "tokenizer.ggml.scores": [-1000.0] * extra,
                "tokenizer.ggml.token_type": [1] * extra}.get(k, [])
        w.add_key_value(k, val, t)
    elif t == VT.STRING:
        w.add_key_value(k, bytes(f.parts[f.data[0]]).decode(), t)
    else:
        w.add_key_value(k, f.parts[f.data[0]][0].item(), t)
if arch == "gemma":   # head size is not E / H there
    for k in ("attention.key_length", "attention.value_length"):
        if f"{arch}.{k}" in over:
            w.add_uint32(f"{arch}.{k}", D)
if os.environ.get("LONGROPE"):
    w.add_float32(f"{arch}.rope.scaling.attn_factor", 1.1902380714238083)
    w.add_uint32(f"{arch}.rope.scaling.original_context_length", 4096)
if arch == "gemma2":
    w.add_float32(f"{arch}.attn_logit_softcapping", float(os.environ.get("ATTN_CAP", "50")))
    w.add_float32(f"{arch}.final_logit_softcapping", float(os.environ.get("FINAL_CAP", "30")))
    if os.environ.get("SWA"):
        w.add_uint32(f"{arch}.attention.sliding_window", int(os.environ["SWA"]))
if os.environ.get("LINEAR"):
    w.add_string(f"{arch}.rope.scaling.type", "linear")
    w.add_float32(f"{arch}.rope.scaling.factor", float(os.environ["LINEAR"]))

V = int([t for t in r.tensors if t.name == "token_embd.weight"][0].shape[1]) + extra
Q, KV = H * D, HKV * D
# GGUF order: (elements per row, rows)
shapes = {
    "token_embd": (E, V), "output": (E, V), "output_norm": (E,), "attn_norm": (E,), "ffn_norm": (E,),
    "attn_q": (E, Q), "attn_k": (E, KV), "attn_v": (E, KV), "attn_output": (Q, E), "attn_qkv": (E, Q + 2 * KV),
    "ffn_gate": (E, FF), "ffn_up": (E, 2 * FF if arch == "phi3" else FF), "ffn_down": (FF, E),
    "attn_q_norm": (D,), "attn_k_norm": (D,), "post_attention_norm": (E,), "post_ffw_norm": (E,),
}


def shape(name):
    base = name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0]
    s = shapes[base]
    return (s[-1],) if name.endswith(".bias") else s


for t in r.tensors:
    if t.name.startswith("blk.") and not t.name.startswith("blk.0."):
        continue
    if t.name == "output.weight" and tied:
        continue
    names = [t.name.replace("blk.0.", f"blk.{i}.") for i in range(L)] if t.name.startswith("blk.") else [t.name]
    for name in names:
        s = shape(name)
        if len(s) == 1:
            norm = "norm" in name and name.endswith(".weight")
            a = 1.0 + 0.2 * rng.standard_normal(s) if norm else 0.2 * rng.standard_normal(s)
        else:
            a = rng.standard_normal(s[::-1]) * (1.0 if name.startswith("token_embd") else 1.0 / np.sqrt(s[0]))
        w.add_tensor(name, a.astype(np.float32))
if arch == "gemma2":
    for i in range(L):
        for nm in ("post_attention_norm", "post_ffw_norm"):
            w.add_tensor(f"blk.{i}.{nm}.weight", (1.0 + 0.2 * rng.standard_normal(E)).astype(np.float32))
if os.environ.get("LONGROPE"):
    w.add_tensor("rope_factors_long.weight", (1.0 + 3.0 * rng.random(ROT // 2)).astype(np.float32))
    w.add_tensor("rope_factors_short.weight", (1.0 + 0.5 * rng.random(ROT // 2)).astype(np.float32))
if os.environ.get("ROPE_FREQS"):   # 1 for high frequencies, up to 32 for low ones
    w.add_tensor("rope_freqs.weight", np.geomspace(1.0, 32.0, ROT // 2).astype(np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
