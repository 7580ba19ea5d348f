#!/usr/bin/env bash
# The GPU measurements, as one prepared script for a short lease of one GPU (see docs/performance.md).
#
#   bash benchmarks/gpu_session.sh checks    # gpu tests, step times (eager, CUDA graph, compiled), CPU agreement
#   bash benchmarks/gpu_session.sh train     # configs/darcy_pwc_paper.yaml on the GPU with CUDA graphs
#
# Results go to $OUT (default runs/gpu_session). Packages the machine lacks can travel as wheels in .whl/.
set -uo pipefail
OUT=${OUT:-runs/gpu_session}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src:$PWD/tests:${PYTHONPATH:-} PYTHONUNBUFFERED=1
PY=${PY:-python3}
case "${1:-checks}" in
checks)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia_smi.txt"
    $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/nvidia_smi.txt"
    timeout 240 $PY -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log"
    timeout 120 $PY benchmarks/step_time.py --device cuda --steps 300 --warmup 20 --graph --out "$OUT/step_time_cuda.json"
    timeout 90 $PY benchmarks/step_time.py --preset burgers --device cuda --steps 200 --warmup 20 --graph \
        --out "$OUT/step_time_cuda_burgers.json"
    timeout 90 $PY benchmarks/gpu_check.py --out "$OUT/gpu_check.json"
    timeout "${COMPILE_SECONDS:-240}" $PY benchmarks/step_time.py --device cuda --steps 300 --warmup 20 --graph \
        --compile --out "$OUT/step_time_cuda_compiled.json"
    ;;
train)
    RUN=${RUN:-/tmp/paper}
    timeout 120 $PY -m pytest -q -m gpu tests/test_gpu.py -k graph -p no:cacheprovider 2>&1 | tail -5 | tee "$OUT/gpu_tests_graph.log"
    timeout "${TRAIN_SECONDS:-480}" $PY -m dgno train configs/darcy_pwc_paper.yaml train.cuda_graph=true \
        ${TRAIN_ARGS:-} --out "$RUN" --quiet 2>&1 | tail -40 | tee "$OUT/train.log"
    $PY -m dgno evaluate "$RUN" --data data/darcy-pwc-10k/test.h5 --json "$OUT/test.json" | tee -a "$OUT/train.log"
    cp "$RUN/summary.json" "$RUN/metrics.jsonl" "$RUN/curves.png" "$OUT/" 2>/dev/null
    ;;
esac
