#!/bin/bash
# tools/snapshot_artifacts.sh OUTDIR: every shipped spec's artifacts (ONNX file, emitted torch
# script, emitted torch-train program, `specc ir` JSON, summary) built with the specc on PATH
# (or $SPECC) into OUTDIR. For refactors that must not change behaviour:
#   git worktree add /tmp/before main && (cd /tmp/before && PYTHONPATH=$PWD tools/snapshot_artifacts.sh /tmp/a)
#   tools/snapshot_artifacts.sh /tmp/b && diff -r /tmp/a /tmp/b
# (emitted training programs of specs that read their own data files hold the spec's absolute
# folder: build both snapshots from the same path, or expect that line to differ.)
set -u
out=${1:?usage: tools/snapshot_artifacts.sh OUTDIR}
specc=${SPECC:-specc}
mkdir -p "$out"
cd "$(dirname "$0")/.."
for f in specs/*/*.net; do
  case "$f" in specs/invalid/*|specs/broken/*|specs/lib/*) continue;; esac
  n=$(echo "$f" | sed 's|specs/||; s|/|__|g; s|\.net$||')
  "$specc" build "$f" --emit onnx -o "$out/$n.onnx" >/dev/null 2>"$out/$n.onnx.err"
  "$specc" build "$f" --emit torch -o "$out/$n.py" >/dev/null 2>"$out/$n.py.err"
  "$specc" build "$f" --emit torch-train -o "$out/${n}_train.py" >/dev/null 2>"$out/$n.train.err"
  "$specc" ir "$f" > "$out/$n.ir.json" 2>&1
  "$specc" summary "$f" > "$out/$n.summary.txt" 2>&1
done
echo "wrote $out"
