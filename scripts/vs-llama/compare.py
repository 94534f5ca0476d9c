"""compare.py REF.f32 OURS.f32 N_PROMPT TYPE: one line, exit 1 outside the
tolerances of ../shared/oracle/README.md (prompt rows: per-row error
max|ours - ref| / (max ref - min ref), median and max, argmax agreement;
float weights: the first 8 greedy tokens identical)."""
import sys

import numpy as np

ref_path, ours_path, n_prompt, wtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].lower()
ref = np.fromfile(ref_path, dtype=np.float32)
ours = np.fromfile(ours_path, dtype=np.float32)
n_rows = n_prompt + 15   # 16 generated tokens: the last one is not fed back
n_vocab = ref.size // n_rows
# tinyllm stops at an end-of-text token, llama.cpp's dump does not
if ref.size % n_rows or ours.size % n_vocab or not n_prompt * n_vocab <= ours.size <= ref.size:
    print(f"row mismatch: {ref.size} vs {ours.size} floats")
    sys.exit(1)
ours = ours.reshape(-1, n_vocab)
ref = ref.reshape(n_rows, n_vocab)[:len(ours)]
p, q = ref[:n_prompt], ours[:n_prompt]
err = np.abs(p - q).max(1) / (p.max(1) - p.min(1))
agree = (p.argmax(1) == q.argmax(1)).mean()
g_ref, g_ours = ref[n_prompt - 1:].argmax(1), ours[n_prompt - 1:].argmax(1)
same = int(np.argmin(g_ref == g_ours)) if (g_ref != g_ours).any() else len(g_ref)
limits = {"f32": (1e-3, 5e-3, 0.99), "f16": (1e-3, 5e-3, 0.99), "bf16": (3e-3, 1e-2, 0.98)}
med_max, max_max, agree_min = limits.get(wtype, (2e-2, 6e-2, 0.93))
ok = np.median(err) <= med_max and err.max() <= max_max and agree >= agree_min
ok = ok and (wtype not in limits or same >= min(8, len(g_ref)))
print(f"med {np.median(err):.1e} max {err.max():.1e} argmax {agree * 100:.0f}% greedy {same}/{len(g_ref)}"
      f"{'' if ok else '  FAIL'}")
sys.exit(0 if ok else 1)
