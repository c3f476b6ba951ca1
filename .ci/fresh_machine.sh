#!/usr/bin/env bash
# Follow the README on a clean copy of the repository, as a new learner and a new contributor would:
#   learners:      python -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt && jupyter lab notebooks/
#   contributors:  python -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt && pytest --nbval
# The copy, in a temporary folder with a new virtual environment, contains the repository's tracked
# files and the untracked files that git does not ignore. JupyterLab is started headless on
# 127.0.0.1 with a token and must respond to /api/status. Then it is stopped and the tests run.
# The script exits non-zero on any failure.
#
# Usage: bash .ci/fresh_machine.sh
# System packages the tests need (chromium, fonts-noto-cjk, npm) must already be installed.
set -euo pipefail

repository="$(cd "$(dirname "$0")/.." && pwd)"
workdir="$(mktemp -d)"
lab_pid=""

cleanup() {
    if [ -n "$lab_pid" ] && kill -0 "$lab_pid" 2>/dev/null; then
        kill "$lab_pid"
        wait "$lab_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

echo "fresh copy of $repository in $workdir/qlesson"
mkdir "$workdir/qlesson"
(cd "$repository" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$repository" && xargs -0 tar -cf - --) | tar -xf - -C "$workdir/qlesson"
cd "$workdir/qlesson"

# The learners' command, with the flags a headless check needs: a fixed address, a port, a token.
python3 -m venv .venv
. .venv/bin/activate
pip install -q -r requirements.txt

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$(python -c 'import secrets; print(secrets.token_hex(16))')"
root_flag=()
if [ "$(id -u)" = 0 ]; then
    root_flag=(--allow-root)
fi
jupyter lab notebooks/ --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$token" --ServerApp.open_browser=False \
    --LabApp.news_url=None --LabApp.extension_manager=readonly "${root_flag[@]}" \
    > "$workdir/jupyterlab.log" 2>&1 &
lab_pid=$!

status=""
for _ in $(seq 1 120); do
    if ! kill -0 "$lab_pid" 2>/dev/null; then
        echo "error: jupyter lab exited before it responded; its log:" >&2
        cat "$workdir/jupyterlab.log" >&2
        exit 1
    fi
    if status="$(python -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
        "http://127.0.0.1:$port/api/status?token=$token" 2>/dev/null)"; then
        break
    fi
    sleep 0.5
done
if [ -z "$status" ]; then
    echo "error: jupyter lab did not respond to /api/status on 127.0.0.1:$port within 60 s; its log:" >&2
    cat "$workdir/jupyterlab.log" >&2
    exit 1
fi
echo "jupyter lab responded to /api/status: $status"
kill "$lab_pid"
wait "$lab_pid" 2>/dev/null || true
lab_pid=""

# The contributors' command.
pip install -q -r requirements.txt
pytest --nbval
