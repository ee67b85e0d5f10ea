#!/usr/bin/env bash
# Installs the Debian packages fovea needs (only those missing) and builds it
# in Release mode into ./build. Idempotent: a second run installs nothing and
# rebuilds only what changed.
#   scripts/setup.sh            install + build everything (library, CLI, tests, benchmarks, examples)
#   scripts/setup.sh --cli-only install + build the library and the `fovea` command only
#                               (what scripts/demo.sh runs: about a third of the full build)
#   scripts/setup.sh --no-build install only
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache git
  libtorch-dev libopenblas0-openmp
  libhdf5-dev libmatio-dev libzip-dev zipcmp zipmerge ziptool
  libopencv-dev libplplot-dev plplot-driver-cairo
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev ca-certificates
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3-torch python3-numpy
  pybind11-dev python3-dev python3-pytest python3-matplotlib
  libtcmalloc-minimal4 libjemalloc2 libdnnl-dev
  libgloo-dev
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  # Recommended packages are left out (Java bindings of OpenCV, Tk, Eigen,
  # OpenCL headers, ...): everything fovea needs is listed above.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages are installed"
fi

# LibTorch parallelises with OpenMP; OpenBLAS's OpenMP build shares its thread
# pool, where the pthread build (preferred by Debian when both are installed)
# would oversubscribe the cores and make results depend on the thread count.
for lib in libblas.so.3 liblapack.so.3; do
  target="/usr/lib/x86_64-linux-gnu/openblas-openmp/${lib}"
  if [ -e "$target" ]; then
    $SUDO update-alternatives --set "${lib}-x86_64-linux-gnu" "$target" >/dev/null
  fi
done

if [ "${1:-}" = "--no-build" ]; then exit 0; fi

cd "$(dirname "$0")/.."
JOBS="${FOVEA_JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFOVEA_BUILD_PYTHON=ON
if [ "${1:-}" = "--cli-only" ]; then
  cmake --build build -j "$JOBS" --target fovea_cli
else
  cmake --build build -j "$JOBS"
  # The Python module (build/python/fovea): a .pth file in Debian Python's
  # site directory puts build/python on its path, so `/usr/bin/python3 -c
  # "import fovea"` works from anywhere.
  if compgen -G "build/python/fovea/_fovea*.so" >/dev/null; then
    site="$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')"
    $SUDO mkdir -p "$site"
    echo "$PWD/build/python" | $SUDO tee "$site/fovea.pth" >/dev/null
    echo "setup: /usr/bin/python3 imports fovea from $PWD/build/python ($site/fovea.pth)"
  fi
fi
echo "setup: built build/fovea"
