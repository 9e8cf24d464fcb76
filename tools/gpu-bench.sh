#!/usr/bin/env bash
# texad's benchmarks on a machine with a real GPU and no network, from a self-contained folder.
#
#   tools/gpu-bench.sh prepare OUTDIR [--weights all|NAMES] [--with-node] [--tar]
#       here, in the repository: builds, then assembles OUTDIR (built dist/, a node_modules pruned to what the
#       benches load on linux-x64, the Python peers' scripts, a Vulkan loader, this script).
#   tools/gpu-bench.sh run [--quick] [--out DIR] [--suites LIST] [--backbones LIST] [--allow-cpu]
#                          [--disable-robustness] [--dry-run]
#       there, inside the copied folder: checks Node and the adapter, then runs each suite with
#       `texad bench --json`, one JSON file per suite (per network for backbones) and run.log in DIR.
#
# The pruned node_modules holds the files that a traced `texad bench --suite elementwise` run and the gemm suite's
# two CPU contestants (onnxruntime-web's wasm EP, texad's wasm GEMM prototype) opened (strace -e openat,
# 2026-12-03): Dawn's linux-x64 binary; onnxruntime-web's WebGPU bundle with the asyncify wasm it loads, and its
# Node build with onnxruntime-common and the plain threaded wasm; the two tfjs Node bundles (tfjs-core requires
# node-fetch only to fetch URLs, and inlines seedrandom); tinybench; plus texad's own dependencies pngjs and
# jpeg-js. The reduce, draem and backbones suites import no other module.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARKER=GPU-BENCH.txt
SUITES_DEFAULT=elementwise,reduce,gemm,draem,backbones
# `texad bench`'s suites (bench/index.ts suiteNames) and the backbones suite's cases (bench/backbones.ts CASES).
SUITES_KNOWN=elementwise,reduce,gemm,draem,metrics,backbones,pyramidflow
BACKBONES_ALL=wide_resnet50_2,resnet18,resnet152,pdn_small,pdn_medium,efficientad_s
# Paths under node_modules/ that the folder keeps (see above); LICENSE files are added where a package has one.
MODULE_FILES=(
  webgpu/package.json webgpu/index.js webgpu/dist/linux-x64
  onnxruntime-web/package.json onnxruntime-web/dist/ort.webgpu.bundle.min.mjs
  onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm
  onnxruntime-web/dist/ort.node.min.mjs onnxruntime-web/dist/ort-wasm-simd-threaded.mjs
  onnxruntime-web/dist/ort-wasm-simd-threaded.wasm onnxruntime-common/package.json onnxruntime-common/dist/esm
  @tensorflow/tfjs-core/package.json @tensorflow/tfjs-core/dist/tf-core.node.js
  @tensorflow/tfjs-backend-webgpu/package.json @tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js
  tinybench/package.json tinybench/dist/index.js
  pngjs jpeg-js
)
# Where Vulkan drivers' manifests live; /usr/local/nvidia/... is where some GPU containers mount NVIDIA's.
ICD_DIRS=(/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d)

usage() {
  cat <<'EOF'
usage: tools/gpu-bench.sh prepare OUTDIR [--weights all|NAMES] [--with-node] [--tar]
       tools/gpu-bench.sh run [--quick] [--out DIR] [--suites LIST] [--backbones LIST] [--allow-cpu]
                              [--disable-robustness] [--dry-run]

prepare (in the texad repository): npm run build, then a self-contained OUTDIR for linux-x64 with no network:
  dist/ (no source maps or .d.ts), package.json, this script, tools/*.py and tools/golden/*.py (PyTorch peers),
  node_modules pruned to what the benches load, lib/libvulkan.so.1 (this machine's Vulkan loader, used only where
  the GPU machine has none). It ends by importing every bench module from OUTDIR and printing its size.
  --weights all|NAMES  also ship the backbones suite's weights and ONNX graphs (.texad-cache/bench/, exported here
                       with PyTorch; wide_resnet50_2 and resnet152 weigh hundreds of MB each): needed when the
                       GPU machine has no python3 with torch, which otherwise exports them there on first use
  --with-node          copy this machine's node binary to bin/node (used where the GPU machine has no Node >= 20)
  --tar                also write OUTDIR.tar.gz

run (inside the prepared folder): checks Node >= 20 and that Dawn's adapter is a GPU, not a CPU rasteriser
(llvmpipe/lavapipe/SwiftShader), then runs each suite as
  node dist/src/cli/bin.js bench --json --suite S [--quick] [--disable-robustness]  >  DIR/S.json
and the backbones suite once per network (DIR/backbones-NAME.json); a failed suite is logged and the others run.
DIR/run.log records date, /proc/loadavg, nvidia-smi -L, the adapter, each command, its exit code and time and the
benches' progress; DIR/adapter.json is `texad devices --json`; DIR/autotune.json the kernel variants chosen.
  --quick               fewer, shorter rounds: checks the machinery, not for published figures
  --out DIR             where results go (default results/<UTC date-time>)
  --suites LIST         comma-separated (default elementwise,reduce,gemm,draem,backbones; metrics and pyramidflow also exist)
  --backbones LIST      the backbones suite's networks (default all six)
  --allow-cpu           run even when the only adapter is a CPU one (to test this script without a GPU)
  --disable-robustness  passed to every bench (Dawn's disable_robustness toggle, texad and peers alike)
  --dry-run             do the checks and print the commands, run no bench, write nothing
Environment: TEXAD_BENCH_PYTHON (a python3 with torch for the PyTorch peer; found if unset), TEXAD_CACHE_DIR
(default .texad-cache in the folder), VK_DRIVER_FILES (a Vulkan driver manifest; set to NVIDIA's if Dawn picks a
CPU adapter and one exists).
EOF
}

die() {
  echo "gpu-bench: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------------------- prepare

prepare() {
  local out='' weights='' with_node=0 tarball=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --weights) weights="${2:?--weights needs all or a comma-separated list}"; shift 2 ;;
      --with-node) with_node=1; shift ;;
      --tar) tarball=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) die "prepare: unknown option $1 (see --help)" ;;
      *) [ -z "$out" ] || die "prepare: one OUTDIR only (got '$out' and '$1')"; out="$1"; shift ;;
    esac
  done
  [ -n "$out" ] || die 'prepare: name the folder to write: tools/gpu-bench.sh prepare OUTDIR'
  { [ -f "$HERE/tsconfig.json" ] && [ -d "$HERE/node_modules" ]; } ||
    die "prepare runs in the texad repository (with node_modules installed), not in a prepared folder ($HERE)"
  out="$(realpath -m "$out")"
  case "$out/" in "$HERE"/*) die "prepare: OUTDIR must be outside the repository ($HERE)" ;; esac
  if [ -e "$out" ]; then
    # Only ever delete a folder this script wrote, and never results a run left in it.
    [ -f "$out/$MARKER" ] || [ -z "$(ls -A "$out")" ] ||
      die "prepare: $out exists and is not a prepared folder ($MARKER missing); choose another OUTDIR"
    [ ! -e "$out/results" ] || die "prepare: $out holds results/ from a run; move them away first"
    rm -rf "$out"
  fi
  mkdir -p "$out"
  echo "incomplete: tools/gpu-bench.sh prepare did not finish" >"$out/$MARKER" # lets a rerun replace it

  echo "gpu-bench: npm run build" >&2
  (cd "$HERE" && npm run build --silent >/dev/null)

  tar -C "$HERE" -cf - --exclude='*.map' --exclude='*.d.ts' dist | tar -C "$out" -xf -
  cp "$HERE/package.json" "$out/"
  mkdir -p "$out/tools/golden"
  cp "$HERE/tools/gpu-bench.sh" "$HERE"/tools/*.py "$out/tools/"
  cp "$HERE"/tools/golden/*.py "$out/tools/golden/"

  local f
  mkdir -p "$out/node_modules"
  for f in "${MODULE_FILES[@]}"; do
    [ -e "$HERE/node_modules/$f" ] || die "prepare: node_modules/$f is missing (was node_modules installed from package-lock.json?)"
  done
  (
    cd "$HERE/node_modules"
    local pkg lic=()
    for f in "${MODULE_FILES[@]}"; do
      pkg="$(cut -d/ -f1-"$(case "$f" in @*) echo 2 ;; *) echo 1 ;; esac)" <<<"$f")"
      for lic in "$pkg"/LICENSE*; do [ -f "$lic" ] && echo "$lic"; done
    done | sort -u >"$out/.licenses"
    tar -cf - --exclude='*.map' --exclude='*.d.ts' "${MODULE_FILES[@]}" -T "$out/.licenses" | tar -C "$out/node_modules" -xf -
    rm "$out/.licenses"
  )

  # Dawn dlopen()s libvulkan.so.1; GPU containers sometimes ship the driver without the loader.
  local loader
  loader="$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 .*x86-64/ && !found { print $NF; found = 1 }')"
  if [ -n "$loader" ]; then
    mkdir -p "$out/lib"
    cp -L "$loader" "$out/lib/libvulkan.so.1"
  else
    echo "gpu-bench: no libvulkan.so.1 on this machine: the folder carries no Vulkan loader" >&2
  fi
  # NVIDIA's Vulkan driver (libGLX_nvidia.so.0) needs libglvnd's dispatch libraries; an H200 container without them
  # failed with "Could not get 'vkCreateInstance' via 'vk_icdGetInstanceProcAddr' for ICD libGLX_nvidia.so.0".
  local lib path
  for lib in libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libOpenGL.so.0; do
    path="$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l && /x86-64/ && !found { print $NF; found = 1 }')"
    if [ -n "$path" ]; then
      mkdir -p "$out/lib/glvnd"
      cp -L "$path" "$out/lib/glvnd/$lib"
    else
      echo "gpu-bench: no $lib on this machine (Debian: libglvnd0, libglx0, libegl1, libopengl0): the folder carries none" >&2
    fi
  done

  if [ "$with_node" = 1 ]; then
    mkdir -p "$out/bin"
    cp -L "$(command -v node)" "$out/bin/node"
  fi

  if [ -n "$weights" ]; then
    local cases=()
    [ "$weights" = all ] || cases=(--cases "$weights")
    echo "gpu-bench: exporting the backbones suite's files (${weights})" >&2
    local rel
    (cd "$HERE" && node dist/bench/backbones.js --prepare-only "${cases[@]}") | while read -r rel; do
      mkdir -p "$out/$(dirname "$rel")"
      cp "$HERE/$rel" "$out/$rel"
    done
  fi

  {
    echo "texad GPU benchmark folder (tools/gpu-bench.sh run inside it)"
    echo "texad $(node -p "require('$HERE/package.json').version")," \
      "commit $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$HERE" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
    echo "prepared $(date -u +%Y-%m-%dT%H:%M:%SZ) with node $(node --version)"
    echo "backbone files shipped: ${weights:-none}"
    echo "node binary shipped: $([ "$with_node" = 1 ] && echo yes || echo no)"
  } >"$out/$MARKER"

  # Every module the benches import, resolved from the folder alone (NODE_PATH would hide a missing one).
  echo "gpu-bench: checking that the folder loads every bench module on its own" >&2
  (cd "$out" && env -u NODE_PATH node --input-type=module -e "
    for (const m of ['webgpu', 'onnxruntime-web/webgpu', 'onnxruntime-web', '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-webgpu', 'tinybench', 'pngjs', 'jpeg-js', './dist/bench/index.js',
      './dist/bench/backbones.js']) await import(m);
    const fs = await import('node:fs');
    for (const wasm of ['asyncify.wasm', 'wasm'].map((w) => 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.' + w)) {
      if (!fs.existsSync(wasm)) throw new Error(wasm + ' is missing');
    }
  ") || die "prepare: $out cannot load the bench modules on its own (see above); the MODULE_FILES list in tools/gpu-bench.sh needs the missing file"

  if [ "$tarball" = 1 ]; then
    tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
    echo "gpu-bench: wrote $out.tar.gz ($(du -h "$out.tar.gz" | cut -f1))" >&2
  fi
  echo "gpu-bench: prepared $out ($(du -sh "$out" | cut -f1)); copy it to the GPU machine and run tools/gpu-bench.sh run there" >&2
}

# -------------------------------------------------------------------------------------------------------------- run

# The major version of the node at $1, or 0 when it does not run.
node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# Prints "cpu" or "gpu" and the adapter line for `texad devices --json` on stdin.
classify_adapter() {
  "$NODE" --input-type=module -e "
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    const a = JSON.parse(text).adapter;
    const name = [a.description, a.device, a.architecture].join(' ');
    const cpu = a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|software/i.test(name);
    console.log((cpu ? 'cpu ' : 'gpu ') + (a.description || a.device) + ' (' + a.vendor + ', ' + a.architecture + ')');
  "
}

probe_adapter() {
  "$NODE" dist/src/cli/bin.js devices --json
}

run() {
  local quick=0 out='' suites=$SUITES_DEFAULT backbones=$BACKBONES_ALL allow_cpu=0 robust=0 dry=0 n i list nets
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick) quick=1; shift ;;
      --out) out="${2:?--out needs a folder}"; shift 2 ;;
      --suites) suites="${2:?--suites needs a list}"; shift 2 ;;
      --backbones) backbones="${2:?--backbones needs a list}"; shift 2 ;;
      --allow-cpu) allow_cpu=1; shift ;;
      --disable-robustness) robust=1; shift ;;
      --dry-run) dry=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) die "run: unknown argument $1 (see --help)" ;;
    esac
  done
  # The commands, one per suite and one per network of the backbones suite.
  local common=(bench --json)
  [ "$quick" = 1 ] && common+=(--quick)
  [ "$robust" = 1 ] && common+=(--disable-robustness)
  local names=() args=() s b
  IFS=, read -r -a list <<<"$suites"
  for s in "${list[@]}"; do
    case ",$SUITES_KNOWN," in *",$s,"*) ;; *) die "run: unknown suite '$s' (suites: $SUITES_KNOWN)" ;; esac
    if [ "$s" = backbones ]; then
      IFS=, read -r -a nets <<<"$backbones"
      for b in "${nets[@]}"; do
        case ",$BACKBONES_ALL," in *",$b,"*) ;; *) die "run: unknown network '$b' (networks: $BACKBONES_ALL)" ;; esac
        names+=("backbones-$b"); args+=("--suite backbones --backbones $b")
      done
    else
      names+=("$s"); args+=("--suite $s")
    fi
  done

  # --out is relative to where the script was started; the default lies in the folder.
  case "$out" in ''|/*) ;; *) out="$PWD/$out" ;; esac
  cd "$HERE"
  [ -f dist/src/cli/bin.js ] || die "run: $HERE has no dist/ (run it inside a folder made by 'tools/gpu-bench.sh prepare', or build first)"

  # Node: the system's if it is >= 20, else the one prepare --with-node shipped.
  NODE="$(command -v node || true)"
  if [ -z "$NODE" ] || [ "$(node_major "$NODE")" -lt 20 ]; then
    if [ -x bin/node ] && [ "$(node_major bin/node)" -ge 20 ]; then NODE="$HERE/bin/node"
    else die "run: needs Node >= 20 (found: ${NODE:-none}${NODE:+ $("$NODE" --version 2>/dev/null)}); install it, or prepare the folder with --with-node"
    fi
  fi

  local notes=()
  # Vulkan loader: the system's, else the one prepare copied.
  if ! grep -q 'libvulkan\.so\.1 ' <<<"$(ldconfig -p 2>/dev/null)"; then
    if [ -f lib/libvulkan.so.1 ]; then
      export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      notes+=("no system libvulkan.so.1: using the folder's lib/libvulkan.so.1")
    else
      notes+=("no libvulkan.so.1 found: Dawn will find no Vulkan adapter")
    fi
  fi
  # libglvnd's dispatch libraries, which NVIDIA's Vulkan driver loads: the system's, else the ones prepare copied.
  if ! grep -q 'libGLdispatch\.so\.0 ' <<<"$(ldconfig -p 2>/dev/null)" && [ -d lib/glvnd ]; then
    export LD_LIBRARY_PATH="$HERE/lib/glvnd${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    notes+=("no system libGLdispatch.so.0: using the folder's lib/glvnd (libglvnd, for NVIDIA's Vulkan driver)")
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
  mkdir -p "$XDG_RUNTIME_DIR"
  export TEXAD_CACHE_DIR="${TEXAD_CACHE_DIR:-$HERE/.texad-cache}"

  # The PyTorch peer: the first python3 that imports torch (the bench reports the peer unavailable otherwise).
  if [ -z "${TEXAD_BENCH_PYTHON:-}" ]; then
    local py
    for py in /usr/bin/python3 "$(command -v python3 || true)"; do
      if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null; then export TEXAD_BENCH_PYTHON="$py"; break; fi
    done
  fi
  if [ -z "${TEXAD_BENCH_PYTHON:-}" ]; then
    notes+=("no python3 with torch: the PyTorch peer is skipped; backbones needs its files shipped (prepare --weights)")
  fi

  # The adapter Dawn picks. A CPU one while NVIDIA's Vulkan manifest sits where the loader does not look (or
  # behind lavapipe): point the loader at it and ask again.
  local devices adapter icd=''
  devices="$(probe_adapter)" || die "run: no WebGPU adapter at all ('texad devices' failed, see above); ${notes[*]:-}"
  adapter="$(classify_adapter <<<"$devices")"
  if [ "${adapter%% *}" = cpu ] && [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
    local d
    for d in "${ICD_DIRS[@]}"; do [ -f "$d/nvidia_icd.json" ] && { icd="$d/nvidia_icd.json"; break; }; done
    if [ -n "$icd" ]; then
      export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
      notes+=("Dawn picked a CPU adapter; retried with VK_DRIVER_FILES=$icd")
      devices="$(probe_adapter)" || die "run: with VK_DRIVER_FILES=$icd Dawn finds no adapter (see above)"
      adapter="$(classify_adapter <<<"$devices")"
    fi
  fi
  if [ "${adapter%% *}" = cpu ] && [ "$allow_cpu" = 0 ]; then
    {
      echo "gpu-bench: the only WebGPU adapter is a CPU one: ${adapter#* }"
      echo "  nvidia-smi -L: $(nvidia-smi -L 2>/dev/null | head -4 | tr '\n' ' ' || echo 'no nvidia-smi')"
      echo "  Vulkan driver manifests: $(find "${ICD_DIRS[@]}" -maxdepth 1 -name '*.json' 2>/dev/null | tr '\n' ' ')"
      echo "  Install the GPU driver's Vulkan ICD (NVIDIA: nvidia_icd.json with libGLX_nvidia) or set VK_DRIVER_FILES;"
      echo "  --allow-cpu runs the benches on the CPU adapter anyway."
    } >&2
    exit 2
  fi

  if [ "$dry" = 1 ]; then
    echo "adapter: ${adapter#* } ($([ "${adapter%% *}" = cpu ] && echo 'CPU adapter, --allow-cpu' || echo GPU))"
    echo "node: $NODE ($("$NODE" --version)); PyTorch peer: ${TEXAD_BENCH_PYTHON:-none}; TEXAD_CACHE_DIR=$TEXAD_CACHE_DIR"
    for n in "${notes[@]}"; do echo "note: $n"; done
    for i in "${!names[@]}"; do echo "$NODE dist/src/cli/bin.js ${common[*]} ${args[$i]} > ${out:-results/<date>}/${names[$i]}.json"; done
    return 0
  fi

  out="${out:-results/$(date -u +%Y%m%dT%H%M%SZ)}"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  local log="$out/run.log"
  echo "$devices" >"$out/adapter.json"
  {
    echo "== gpu-bench run, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    cat "$MARKER" 2>/dev/null || echo "(not a prepared folder: $HERE)"
    echo "host: $(uname -srm), $(nproc) cores, loadavg $(cat /proc/loadavg)"
    echo "nvidia-smi -L: $(nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi')"
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 || true
    fi
    echo "adapter: ${adapter#* }$([ "${adapter%% *}" = cpu ] && echo ' -- A CPU ADAPTER (--allow-cpu): figures are not GPU figures')"
    echo "node: $NODE ($("$NODE" --version)); PyTorch peer: ${TEXAD_BENCH_PYTHON:-none}"
    echo "TEXAD_CACHE_DIR=$TEXAD_CACHE_DIR VK_DRIVER_FILES=${VK_DRIVER_FILES:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    for n in "${notes[@]}"; do echo "note: $n"; done
  } | tee "$log" >&2

  local failed=() rc start
  for i in "${!names[@]}"; do
    # shellcheck disable=SC2206 # the suite arguments are plain words
    local cmd=("$NODE" dist/src/cli/bin.js "${common[@]}" ${args[$i]})
    echo "== ${names[$i]}: $(date -u +%H:%M:%S), loadavg $(cut -d' ' -f1-3 /proc/loadavg): ${cmd[*]}" | tee -a "$log" >&2
    start=$SECONDS
    # JSON to the file; progress (stderr) to the terminal and the log.
    set +e
    "${cmd[@]}" 2>&1 >"$out/${names[$i]}.json.part" | tee -a "$log" >&2
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 0 ]; then mv "$out/${names[$i]}.json.part" "$out/${names[$i]}.json"
    else failed+=("${names[$i]}"); rm -f "$out/${names[$i]}.json.part"
    fi
    echo "== ${names[$i]}: exit $rc after $((SECONDS - start)) s, loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log" >&2
  done
  [ -f "$TEXAD_CACHE_DIR/autotune.json" ] && cp "$TEXAD_CACHE_DIR/autotune.json" "$out/"
  echo "== done $(date -u +%Y-%m-%dT%H:%M:%SZ); results in $out${failed[*]:+; FAILED: ${failed[*]}}" | tee -a "$log" >&2
  [ ${#failed[@]} = 0 ]
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 1 ;;
esac
