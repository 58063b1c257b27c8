# Sourced by scripts/steps.sh and scripts/emulator-setup.sh: a per-user cache of installed trees
# (node_modules/ and the moto virtualenv .venv/), so that a second clone of the same lockfile starts
# in seconds instead of re-running npm ci and pip (CONTRIBUTING "Install cache").
#
# An entry is the tree that npm ci or pip built, named by a hash of everything that decides that
# tree (lockfile or requirements, tool versions, platform): the same inputs give the same tree.
# Files are hard-linked, as pnpm links its store: saving and restoring a tree of 36,000 files takes
# under a second, where copying them takes 4 to 18 s on the project's 2-CPU machines. npm and pip
# replace a file by unlinking it, never by writing into it, so installs and upgrades in one clone
# leave the others alone; the one file npm rewrites in place, its record of the installed tree
# (node_modules/.package-lock.json), is copied instead. A file edited by hand in node_modules/ or
# .venv/ changes it in the cache too: switch the cache off (below) before patching a package.
#
#   SHARED_IMAGES_INSTALL_CACHE=off   never read nor write the cache (CI sets it, to prove the
#                                     real install every run)
#   SHARED_IMAGES_CACHE_DIR=DIR       where the entries live
#                                     (default: ${XDG_CACHE_HOME:-~/.cache}/cdk-shared-images)
# The two most recently used entries of each kind are kept; `rm -rf` of the folder is always safe.

# Files of an installed tree that their tools rewrite in place: each tree gets its own copy.
INSTALL_CACHE_OWN_COPY=(.package-lock.json)

install_cache_dir() {
  printf '%s' "${SHARED_IMAGES_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cdk-shared-images}"
}

install_cache_on() {
  [ "${SHARED_IMAGES_INSTALL_CACHE:-on}" != off ]
}

# install_cache_key INPUT...: a short hash of the named files' contents and of the words given
# with a leading '=' (tool versions, platform).
install_cache_key() {
  local input
  for input in "$@"; do
    if [[ $input == =* ]]; then printf '%s\n' "${input#=}"; else sha256sum "$input"; fi
  done | sha256sum | cut -c1-16
}

# install_cache_restore KIND KEY DEST: replaces DEST with the entry's tree; fails when there is
# none (or the cache is off), leaving DEST as it was.
install_cache_restore() {
  local entry
  entry="$(install_cache_dir)/$1-$2"
  install_cache_on && [ -f "$entry/.install-cache-complete" ] || return 1
  touch "$entry" 2>/dev/null || true
  rm -rf "$3"
  install_cache_link "$entry" "$3"
  rm -f "$3/.install-cache-complete"
}

# install_cache_link SRC DEST: DEST becomes a tree of hard links to SRC's files (a plain copy when
# they are on different file systems), with its own copy of each INSTALL_CACHE_OWN_COPY file.
install_cache_link() {
  local file
  if ! cp -al "$1" "$2" 2>/dev/null; then
    rm -rf "$2"
    cp -a "$1" "$2" || return
  fi
  for file in "${INSTALL_CACHE_OWN_COPY[@]}"; do
    if [ -f "$1/$file" ]; then
      cp --remove-destination "$1/$file" "$2/$file" || return
    fi
  done
}

# install_cache_save KIND KEY SRC: saves SRC's tree as the entry, then drops all but the two
# most recently used entries of KIND. The entry is made under a temporary name and renamed when complete, so
# an interrupted save leaves no entry that a restore would take. Never fails the install.
install_cache_save() {
  local dir tmp entry old
  install_cache_on || return 0
  dir=$(install_cache_dir)
  entry="$dir/$1-$2"
  [ -f "$entry/.install-cache-complete" ] && return 0
  mkdir -p "$dir" || return 0
  tmp=$(mktemp -u "$dir/.saving-$1-XXXXXX") || return 0
  if install_cache_link "$3" "$tmp" && touch "$tmp/.install-cache-complete"; then
    rm -rf "$entry"
    mv -T "$tmp" "$entry" 2>/dev/null || rm -rf "$tmp"
  else
    rm -rf "$tmp"
    return 0
  fi
  # ls -t: most recently saved or restored first; entries beyond the second are removed.
  while IFS= read -r old; do
    rm -rf "${dir:?}/$old"
  done < <(cd "$dir" && ls -1td -- "$1"-* 2>/dev/null | tail -n +3)
  return 0
}
