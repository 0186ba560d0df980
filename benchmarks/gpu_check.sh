#!/usr/bin/env bash
# The whole GPU check of issue 15 as one command, for a machine with a CUDA GPU, torch and
# lightning installed but no network and no Hydra (docs/benchmarks.md, "GPU"):
#
#   1. python -m benchmarks.bench_gpu: training (fp32 and bf16-mixed, plain loop beside the
#      Lightning module) and evaluation on the GPU -> $OUT/bench_gpu.json, $OUT/bench_gpu.log
#   2. installs the wheels of .whl/ that the machine lacks (Hydra, OmegaConf, rootutils, ...;
#      filled beforehand by the `pip download` / `pip wheel` commands of docs/benchmarks.md)
#   3. one batch of each loop through src/train.py with trainer=gpu (bf16-mixed, Hydra path)
#      -> $OUT/train_gpu_fdr.log
#
# Run from anywhere:  OUT=/some/folder bash benchmarks/gpu_check.sh
# (BENCH_ARGS="--small --device cpu" tries the script on a CPU; PYTHON picks the interpreter.)
# Step 1 needs no wheel; steps 2-3 fail alone (their log says why) without stopping step 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check_out}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))" \
    > "$OUT/torch.txt" 2>&1

# at most 480 s, leaving the rest of a 600-s call to steps 2-3 (the JSON keeps each finished part)
timeout 480 $PY -m benchmarks.bench_gpu --out "$OUT/bench_gpu.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench_gpu.log"
bench_rc=${PIPESTATUS[0]}

{
    $PY -m pip install --no-index --find-links .whl \
        hydra-core omegaconf rootutils hydra-colorlog rich matplotlib &&
        $PY src/train.py trainer=gpu debug=fdr logger=csv "paths.log_dir=$OUT/logs"
} > "$OUT/train_gpu_fdr.log" 2>&1
echo "bench_gpu exit status $bench_rc, train.py trainer=gpu debug=fdr exit status $?" |
    tee "$OUT/status.txt"
exit "$bench_rc"
