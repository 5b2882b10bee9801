#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source (the unzipped autograder), to build
# the image: Python 3.11, bubblewrap, the course's pinned requirements with CPU-only PyTorch.
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
COURSE="$SOURCE/course"

for needed in "$COURSE/requirements.txt" "$COURSE/pyproject.toml" "$COURSE/autograder/__init__.py" "$SOURCE/run_autograder"; do
    [[ -f "$needed" ]] || { echo "setup.sh: $needed is missing; rebuild the zip with make gradescope." >&2; exit 1; }
done
chmod +x "$SOURCE/run_autograder"
echo "setup.sh: autograder for {assignment} found in $COURSE"

if [[ "${GRADESCOPE_SETUP_OFFLINE:-}" == 1 ]]; then
    echo "setup.sh: GRADESCOPE_SETUP_OFFLINE=1, stopping before the apt-get and pip steps"
    exit 0
fi

# -- network steps --------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends software-properties-common bubblewrap
if ! command -v python3.11 >/dev/null; then
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
fi
python3.11 -m venv "$ROOT/venv"
# The CPU build of torch (~200 MB) instead of the CUDA one (several GB), as in the learners' CI.
PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu "$ROOT/venv/bin/pip" install --disable-pip-version-check -r "$COURSE/requirements.txt"
"$ROOT/venv/bin/pip" install --disable-pip-version-check --no-deps --no-build-isolation -e "$COURSE"
echo "setup.sh: done"
