#!/usr/bin/env bash
# The release path, as a user of `uvx vapi-mcp` will meet it, from this checkout:
#
#   1. build the sdist, then the wheel from that sdist (python -m build; needs the `build` package,
#      which the dev extra installs, like `uv`), into a temporary directory;
#   2. check both against git (scripts/check_dist.py): the files that should ship, and nothing else;
#   3. install the built wheel, and nothing from this checkout, into a fresh virtual environment (with uv,
#      as uvx does, when the `uv` package is installed; else with pip);
#   4. from outside the checkout: `vapi-mcp --version` and `vapi-mcp --help`, then one sandbox session over
#      stdio with the SDK's client (scripts/release_smoke.py: initialise, list tools, create_call, get_call,
#      list_calls).
#
#   scripts/release-check.sh            # uses `python` on PATH (run it inside the dev venv)
#   PYTHON=python3.12 scripts/release-check.sh
#   RELEASE_CHECK_KEEP=1 scripts/release-check.sh   # keep the temporary directory (dist/ and the venv) and print its path
#
# The build and the check read the working tree: untracked files that would ship make step 2 fail.

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python}
work=$(mktemp -d "${TMPDIR:-/tmp}/vapi-mcp-release.XXXXXX")
if [ -n "${RELEASE_CHECK_KEEP:-}" ]; then
    echo "release-check: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi

step_start=$SECONDS
step() {
    echo "release-check: $1 ($((SECONDS - step_start)) s)"
    step_start=$SECONDS
}

# uv is what `uvx` runs, and it sets up environments in seconds where pip takes half a minute; pip without it.
installer=pip
if "$PY" -m uv --version >/dev/null 2>&1; then
    installer=uv
    export UV_PYTHON_DOWNLOADS=never
fi

"$PY" -m build --installer "$installer" --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || {
    cat "$work/build.log" >&2
    echo "release-check: FAIL: the build failed (is the \`build\` package installed? pip install -e \".[dev]\")" >&2
    exit 1
}
step "built $(cd "$work/dist" && echo *)"

"$PY" "$repo/scripts/check_dist.py" "$work/dist" --repo "$repo"
step "checked the sdist and wheel contents"

if [ "$installer" = uv ]; then
    "$PY" -m uv venv --quiet --python "$PY" "$work/venv"
    "$PY" -m uv pip install --quiet --python "$work/venv/bin/python" "$work"/dist/*.whl
else
    "$PY" -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$work"/dist/*.whl
fi
step "installed the wheel into a fresh venv with $installer"

# From outside the checkout, so nothing can be imported from the source tree.
cd "$work"
unset PYTHONPATH
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml" | head -n 1)
got=$("$work/venv/bin/vapi-mcp" --version)
[ "$got" = "vapi-mcp $version" ] || { echo "release-check: FAIL: --version says '$got', not 'vapi-mcp $version'" >&2; exit 1; }
help=$("$work/venv/bin/vapi-mcp" --help)
grep -q -- "--sandbox" <<<"$help" || { echo "release-check: FAIL: --help does not offer --sandbox:" >&2; echo "$help" >&2; exit 1; }
"$work/venv/bin/python" "$repo/scripts/release_smoke.py"
step "ran the installed vapi-mcp (--version, --help, a sandbox session over stdio)"
