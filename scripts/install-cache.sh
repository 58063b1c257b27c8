# Sourced by scripts/steps.sh and scripts/emulator-setup.sh: a per-user cache of installed trees
# (node_modules/ and the moto virtualenv .venv/), so that a second clone with the same lockfile and
# tools starts in a second or two instead of re-running npm ci and pip (CONTRIBUTING "Install
# cache"). Nothing here fails an install: any trouble with the cache means a real install.
#
# An entry is the tree that npm ci or pip built, named by a hash of everything that decides that
# tree (the lockfile or the fully pinned requirements, tool versions and settings, platform).
# Files are hard-linked, as pnpm links its store: linking a tree of 36,000 files takes under a
# second, where copying them takes 4 to 18 s on the project's 2-CPU machines. npm and pip replace
# a file by unlinking it, never by writing into it, so installs and upgrades in one clone leave
# the others alone; the one file npm rewrites in place, its record of the installed tree
# (node_modules/.package-lock.json), is copied instead. A file edited by hand in node_modules/ or
# .venv/ changes it for every clone that shares it: CONTRIBUTING says how to give a clone trees of
# its own first.
#
#   SHARED_IMAGES_INSTALL_CACHE=off   never read nor write the cache (CI sets it, to prove the
#                                     real install every run)
#   SHARED_IMAGES_CACHE_DIR=DIR       where the entries live
#                                     (default: ${XDG_CACHE_HOME:-~/.cache}/cdk-shared-images)
# The two most recently used entries of each kind are kept.

# Files of an installed tree that their tools rewrite in place: each tree gets its own copy.
INSTALL_CACHE_OWN_COPY=(.package-lock.json)

# install_cache_dir: prints the cache folder; fails when there is none to use (cache off, or
# neither SHARED_IMAGES_CACHE_DIR, XDG_CACHE_HOME nor HOME set).
install_cache_dir() {
  [ "${SHARED_IMAGES_INSTALL_CACHE:-on}" != off ] || return 1
  if [ -n "${SHARED_IMAGES_CACHE_DIR:-}" ]; then
    printf '%s' "$SHARED_IMAGES_CACHE_DIR"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then
    printf '%s' "$XDG_CACHE_HOME/cdk-shared-images"
  elif [ -n "${HOME:-}" ]; then
    printf '%s' "$HOME/.cache/cdk-shared-images"
  else
    return 1
  fi
}

# install_cache_key INPUT...: a short hash of the named files' contents and of the words given
# with a leading '=' (tool versions, settings, platform).
install_cache_key() {
  local input
  for input in "$@"; do
    if [[ $input == =* ]]; then printf '%s\n' "${input#=}"; else sha256sum "$input" | cut -d' ' -f1; fi
  done | sha256sum | cut -c1-16
}

# install_cache_restore KIND KEY DEST: replaces DEST with the entry's tree and succeeds; fails
# when there is no complete entry or the tree cannot be made, and the caller installs for real.
# The tree is made under a temporary name beside DEST (git ignores /*.from-cache-*) and renamed
# into place only when whole, so DEST is never a part of it.
install_cache_restore() {
  local dir entry tmp
  dir=$(install_cache_dir) || return 1
  entry="$dir/$1-$2"
  [ -f "$entry/.install-cache-complete" ] || return 1
  rm -rf "$3".from-cache-* 2>/dev/null || true
  tmp=$(mktemp -u "$3.from-cache-XXXXXX") || return 1
  if install_cache_link "$entry" "$tmp" && rm -f "$tmp/.install-cache-complete"; then
    touch "$entry" 2>/dev/null || true
    rm -rf "$3" && mv -T "$tmp" "$3" && return 0
  fi
  rm -rf "$tmp" 2>/dev/null || true
  return 1
}

# install_cache_link SRC DEST: DEST becomes a tree of hard links to SRC's files (a plain copy,
# said aloud, when they are on different file systems), with its own copy of each
# INSTALL_CACHE_OWN_COPY file.
install_cache_link() {
  local file
  if ! cp -al "$1" "$2" 2>/dev/null; then
    rm -rf "$2" 2>/dev/null || true
    echo "install cache: cannot hard-link $1 to $2 (another file system?); copying it, which is slower"
    cp -a "$1" "$2" || return 1
  fi
  for file in "${INSTALL_CACHE_OWN_COPY[@]}"; do
    if [ -f "$1/$file" ]; then
      cp --remove-destination "$1/$file" "$2/$file" || return 1
    fi
  done
}

# install_cache_save KIND KEY SRC: saves SRC's tree as the entry, then drops all but the two most
# recently used entries of KIND, and any half-made entry over an hour old. The entry is made under
# a temporary name and renamed when complete, so an interrupted save leaves no entry that a
# restore would take; an entry another clone saved meanwhile is kept as it is. Always succeeds.
install_cache_save() {
  local dir tmp entry old
  dir=$(install_cache_dir) || return 0
  entry="$dir/$1-$2"
  [ -f "$entry/.install-cache-complete" ] && return 0
  mkdir -p "$dir" 2>/dev/null || return 0
  tmp=$(mktemp -u "$dir/.saving-$1-XXXXXX") || return 0
  if install_cache_link "$3" "$tmp" >/dev/null && touch "$tmp/.install-cache-complete" 2>/dev/null; then
    # mv -T refuses to replace a folder that is not empty: a complete entry stays as it is.
    mv -T "$tmp" "$entry" 2>/dev/null || rm -rf "$tmp" 2>/dev/null || true
  else
    rm -rf "$tmp" 2>/dev/null || true
    return 0
  fi
  # ls -t: most recently saved or restored first; entries beyond the second are removed.
  while IFS= read -r old; do
    rm -rf "${dir:?}/$old" 2>/dev/null || true
  done < <(cd "$dir" 2>/dev/null && ls -1td -- "$1"-* 2>/dev/null | tail -n +3)
  find "$dir" -maxdepth 1 -name '.saving-*' -mmin +60 -exec rm -rf {} + 2>/dev/null || true
  return 0
}
