# Sourced by the README commands (scripts/demo.sh, scripts/test.sh). Each step prints one line as
# it starts, with the seconds since the command started; projen's banner before each command
# ("👾 task » subtask | <whole command line>") is shortened to one such line of at most 100
# columns; steps_summary prints each step's time and outcome.
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

# projen_task TASK: `npx projen TASK`, its banners shortened (errors and other output unchanged).
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
}

# install_dependencies: npm packages (npm ci, then npm install) and moto (scripts/emulator-setup.sh, into .venv)
# side by side: in a fresh clone each takes half a minute or more.
install_dependencies() {
  local status=0 moto
  bash scripts/emulator-setup.sh &
  moto=$!
  # A fresh clone installs exactly the lockfile (npm ci); --prefer-offline takes what the npm
  # cache holds without asking the registry again (half the time with a warm cache). Later runs
  # check the installed tree against the lockfile (npm install, a few seconds).
  if [ -f node_modules/.package-lock.json ]; then
    npm install --prefer-offline --no-audit --no-fund --loglevel=error || status=$?
  else
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error || status=$?
  fi
  wait "$moto" || status=$?
  return "$status"
}

steps_summary() {
  [ ${#STEP_RESULTS[@]} -gt 0 ] || return 0
  printf '\n== %s s in all\n' "$SECONDS"
  printf '%s\n' "${STEP_RESULTS[@]}"
}
