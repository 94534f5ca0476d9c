#!/usr/bin/python3
"""report.py: the tables of scripts/arm-profile.sh from the plugin's counts.

usage: report.py table COUNTS "CPUS" "MODELS"
       report.py mca   COUNTS "CPUS" "MODELS" [TOP]
       report.py hot   COUNTS ENGINE CPU MODEL [TOP [gen|prompt]]

COUNTS holds ENGINE.CPU.MODEL.CASE.{count,out,err} for ENGINE in tinyllm,
llama and CASE in p1 (BOS only, 1 token), p32 (32-token prompt, 1 token),
p32g (32-token prompt, 9 tokens). Per token:
  generated = (p32g - p32) / 8                       (8 decode steps)
  load      = p1 - generated                         (start-up, load, repack)
  prompt    = (p32 - load) / 32
mca: the blocks the decode steps executed (p32g minus p32, block by block)
and the prompt's (p32 minus p1), the hottest covering 90% of each, each
timed by llvm-mca as a loop on the CPU's model; cycles per token =
sum(runs x cycles per iteration) / tokens / coverage. LLVM_MCA and LLVM_MC
name other llvm-mca / llvm-mc binaries (LLVM 14's use the Cortex-A57 model
for both -mcpu=cortex-a76 and cortex-a72; later LLVMs have closer ones).
"""
import os
import re
import subprocess
import sys
import tempfile

ENGINES = ("tinyllm", "llama")
LLVM_MCA = os.environ.get("LLVM_MCA", "llvm-mca")
LLVM_MC = os.environ.get("LLVM_MC", "llvm-mc")


def read_count(path):
    """total, threads, {(pc, len): [runs, symbol, words]}"""
    total, threads, blocks, key = 0, 0, {}, None
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "total":
            total = int(f[1])
        elif f[0] == "threads":
            threads = int(f[1])
        elif f[0] == "block":
            key = (int(f[2], 16), int(f[4]))
            blocks[key] = [int(f[5]), f[3], []]
        elif f[0] == "code" and key:
            blocks[key][2] = f[1:]
    return total, threads, blocks


def per_token(counts, eng, cpu, model):
    t = {c: read_count(f"{counts}/{eng}.{cpu}.{model}.{c}.count")[0] for c in ("p1", "p32", "p32g")}
    gen = (t["p32g"] - t["p32"]) / 8
    load = t["p1"] - gen
    return gen, (t["p32"] - load) / 32, load


def checks(counts, eng, cpu, model):
    """What the runs did: warnings if not 32/1 prompt tokens and 9/1 generated."""
    warn, kernels = [], ""
    for case, want_p, want_g in (("p1", 1, 1), ("p32", 32, 1), ("p32g", 32, 9)):
        base = f"{counts}/{eng}.{cpu}.{model}.{case}"
        if read_count(base + ".count")[1] != 1:
            warn.append(f"{base}: more than one guest thread")
        if eng == "tinyllm":
            err = open(base + ".err").read()
            m = re.search(r"prompt (\d+) tokens.*generated (\d+) tokens", err)
            k = re.search(r"kernels ([^,]+(?:; repacks [^,]+)?),", err)
            kernels = k.group(1) if k else "?"
            got = (int(m.group(1)), int(m.group(2))) if m else None
        else:
            out = open(base + ".out").read()
            m = re.search(r"prompt (\d+)\ngenerated(.*)", out)
            got = (int(m.group(1)), len(m.group(2).split())) if m else None
            kernels = "ggml"
        if got != (want_p, want_g):
            warn.append(f"{eng} {cpu} {model} {case}: prompt/generated {got}, expected {(want_p, want_g)}")
    return kernels, warn


def table(counts, cpus, models):
    warns = []
    print("Millions of instructions per token; ratio = tinyllm / llama.cpp (below 1: tinyllm executes fewer)\n")
    print("| cpu | model | tinyllm kernels | tinyllm gen / prompt | llama.cpp gen / prompt | ratio gen | ratio prompt |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for cpu in cpus:
        for model in models:
            r = {e: per_token(counts, e, cpu, model) for e in ENGINES}
            k, w = checks(counts, "tinyllm", cpu, model)
            warns += w + checks(counts, "llama", cpu, model)[1]
            tl, ll = r["tinyllm"], r["llama"]
            print(f"| {cpu} | {model} | {k} | {tl[0] / 1e6:.1f} / {tl[1] / 1e6:.1f} | "
                  f"{ll[0] / 1e6:.1f} / {ll[1] / 1e6:.1f} | {tl[0] / ll[0]:.2f} | {tl[1] / ll[1]:.2f} |")
    for w in warns:
        print("WARNING:", w)


def diff_blocks(big, small):
    out = []
    for key, (runs, sym, words) in big.items():
        d = runs - small.get(key, [0])[0]
        if d > 0 and words:
            out.append((d * key[1], key, d, sym, words))
    out.sort(key=lambda x: -x[0])
    return out


def disassemble(words):
    """Instruction words (hex, as the plugin prints them) to assembly lines."""
    data = " ".join(f"0x{int(w, 16) >> s & 255:02x}" for w in words for s in (0, 8, 16, 24))
    r = subprocess.run([LLVM_MC, "--disassemble", "-triple=aarch64", "-mattr=+dotprod,+fullfp16,+i8mm"],
                       input=data, capture_output=True, text=True)
    return [ln.strip() for ln in r.stdout.splitlines() if ln.strip() and not ln.strip().startswith(".")]


def mca_cycles(blocks, cpu):
    """llvm-mca cycles per iteration of each block, each run as a loop."""
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        for i, b in enumerate(blocks):
            f.write(f"# LLVM-MCA-BEGIN b{i}\n" + "\n".join(disassemble(b[4])) + "\n# LLVM-MCA-END\n")
        path = f.name
    r = subprocess.run([LLVM_MCA, "-mtriple=aarch64", f"-mcpu=cortex-{cpu}", "-mattr=+dotprod,+fullfp16,+i8mm",
                        "-iterations=100", "-all-stats=false", "-instruction-info=false", "-resource-pressure=false",
                        path], capture_output=True, text=True)
    os.unlink(path)
    cyc = [float(c) / 100 for c in re.findall(r"Total Cycles:\s+(\d+)", r.stdout)]
    if len(cyc) != len(blocks):
        raise SystemExit(f"llvm-mca: {len(cyc)} regions of {len(blocks)}\n{r.stderr[:2000]}")
    return cyc


def hot_cost(big, small, cpu, tokens, cover=0.9, most=60):
    blocks = diff_blocks(big[2], small[2])
    total = big[0] - small[0]
    chosen, acc = [], 0
    for b in blocks:
        if acc >= cover * total or len(chosen) >= most:
            break
        chosen.append(b)
        acc += b[0]
    cyc = mca_cycles(chosen, cpu)
    covered = acc / total
    est = sum(b[2] * c for b, c in zip(chosen, cyc)) / covered / tokens
    return est, covered, list(zip(chosen, cyc))


def mca(counts, cpus, models, top=3):
    print("llvm-mca estimate (LLVM's model for the -mcpu; each hot block timed as a loop), "
          "millions of cycles per token; ratio = tinyllm / llama.cpp\n")
    print("| cpu | model | tinyllm gen / prompt | llama.cpp gen / prompt | ratio gen | ratio prompt |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    detail = []
    for cpu in cpus:
        for model in models:
            row = {}
            for e in ENGINES:
                c = {k: read_count(f"{counts}/{e}.{cpu}.{model}.{k}.count") for k in ("p1", "p32", "p32g")}
                g = hot_cost(c["p32g"], c["p32"], cpu, 8)
                p = hot_cost(c["p32"], c["p1"], cpu, 31)
                row[e] = (g[0], p[0])
                detail.append((cpu, model, e, g))
            tl, ll = row["tinyllm"], row["llama"]
            print(f"| {cpu} | {model} | {tl[0] / 1e6:.1f} / {tl[1] / 1e6:.1f} | {ll[0] / 1e6:.1f} / {ll[1] / 1e6:.1f} "
                  f"| {tl[0] / ll[0]:.2f} | {tl[1] / ll[1]:.2f} |")
    print(f"\nThe {top} hottest blocks of the decode steps: instructions, llvm-mca cycles per iteration, "
          "share of the decode's instructions\n")
    print("| cpu | model | engine | symbol | insns | cycles/iter | share |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: |")
    for cpu, model, e, (est, covered, blocks) in detail:
        total = sum(b[0] for b, _ in blocks) / covered
        for b, c in blocks[:top]:
            print(f"| {cpu} | {model} | {e} | {b[3]} | {b[1][1]} | {c:.2f} | {100 * b[0] / total:.1f}% |")


def hot(counts, eng, cpu, model, top=10, part="gen"):
    """The hottest blocks of the decode steps (or the prompt), disassembled."""
    big, small = ("p32g", "p32") if part == "gen" else ("p32", "p1")
    c = {k: read_count(f"{counts}/{eng}.{cpu}.{model}.{k}.count") for k in (big, small)}
    total = c[big][0] - c[small][0]
    blocks = diff_blocks(c[big][2], c[small][2])[:top]
    for b, cyc in zip(blocks, mca_cycles(blocks, cpu)):
        print(f"== {b[3]} at 0x{b[1][0]:x}: {b[1][1]} instructions x {b[2]} runs = "
              f"{100 * b[0] / total:.1f}% of the {part} part, llvm-mca {cyc:.2f} cycles/iteration")
        for ln in disassemble(b[4]):
            print("   ", ln)


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "hot":
        a = sys.argv[2:]
        hot(a[0], a[1], a[2], a[3], int(a[4]) if len(a) > 4 else 10, a[5] if len(a) > 5 else "gen")
        return
    if len(sys.argv) < 5 or sys.argv[1] not in ("table", "mca"):
        sys.exit(__doc__)
    cmd, counts, cpus, models = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
    if cmd == "table":
        table(counts, cpus, models)
    else:
        mca(counts, cpus, models, int(sys.argv[5]) if len(sys.argv) > 5 else 3)


if __name__ == "__main__":
    main()
