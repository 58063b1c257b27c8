# Sourced by the README commands (scripts/demo.sh, scripts/test.sh). Each step prints one line as
# it starts, with the seconds since the command started; projen's banner before each command
# ("👾 task » subtask | <whole command line>") is shortened to one such line of at most 100
# columns; steps_summary prints each step's time and outcome.
source "$(dirname "${BASH_SOURCE[0]}")/install-cache.sh"
SECONDS=0
STEP_RESULTS=()

# step WHAT COMMAND...: announces WHAT, runs COMMAND, records how long it took and how it ended.
step() {
  local what=$1 start=$SECONDS status=0
  shift
  printf '[%3ss] %s\n' "$SECONDS" "$what"
  "$@" || status=$?
  STEP_RESULTS+=("$(printf '%5ss  %-6s  %s' $((SECONDS - start)) "$([ "$status" = 0 ] && echo ok || echo FAILED)" "$what")")
  return "$status"
}

# projen_task TASK: `npx projen TASK`, its banners shortened (errors and other output unchanged);
# ends as projen ended.
projen_task() {
  local line name
  npx projen "$@" 2>&1 | while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line == '👾 '*' | '* && $line != *'"'*' | '* ]]; then
      name=${line#'👾 '}
      line=$(printf '[%3ss]   %s' "$SECONDS" "${name/ | /: }")
      (( ${#line} > 100 )) && line="${line:0:97}..."
    fi
    printf '%s\n' "$line"
  done
  # projen's exit status, whether or not the caller set pipefail.
  return "${PIPESTATUS[0]}"
}

# install_dependencies: npm packages (node_modules/) and moto (scripts/emulator-setup.sh, into .venv)
# side by side. A fresh clone takes each tree from the install cache (scripts/install-cache.sh) when
# this machine has installed the same lockfile before, and otherwise installs exactly the lockfile
# (npm ci, about 20 s) and saves it there. Later runs check the installed tree against the lockfile
# (npm install, about 1 s).
install_dependencies() {
  local status=0 moto
  bash scripts/emulator-setup.sh &
  moto=$!
  install_node_modules || status=$?
  wait "$moto" || status=$?
  return "$status"
}

install_node_modules() {
  local key
  # --prefer-offline takes what the npm cache holds without asking the registry again.
  if [ -f node_modules/.package-lock.json ]; then
    npm install --prefer-offline --no-audit --no-fund --loglevel=error
    return
  fi
  # Everything besides the lockfile that decides the tree npm ci makes.
  key=$(install_cache_key package.json package-lock.json "=node $(node --version)" "=npm $(npm --version)" \
    "=NODE_ENV=${NODE_ENV:-}" "=$(npm config get omit include install-strategy legacy-peer-deps)" \
    "=$(uname -sm)" "=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'not glibc')")
  if install_cache_restore node_modules "$key" node_modules; then
    echo "npm packages: linked from the install cache ($(install_cache_dir)), as npm ci made them for this lockfile"
    return
  fi
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error || return
  install_cache_save node_modules "$key" node_modules
}

steps_summary() {
  [ ${#STEP_RESULTS[@]} -gt 0 ] || return 0
  printf '\n== %s s in all\n' "$SECONDS"
  printf '%s\n' "${STEP_RESULTS[@]}"
}
