# Installers shared by scripts/test.sh and scripts/check-kubernetes.sh. Source it; it defines
# functions only. Every tool lands under the project's .tools/ (gitignored) or comes from a Debian
# package; nothing is written to the user's home.

# make_venv DIR REQUIREMENT...: a fresh virtual environment at DIR holding these pip requirements.
make_venv() {
  local dir="$1" python="${PYTHON:-python3}"
  shift
  rm -rf "$dir"
  local pip=("$dir/bin/python" -m pip)
  if ! "$python" -m venv "$dir" >/dev/null 2>&1; then
    # Debian's python3 without the python3-venv package has no ensurepip: make the venv bare and
    # let the system pip install into it (pip >= 22.3).
    rm -rf "$dir"
    "$python" -m venv --without-pip "$dir" || {
      echo "$python cannot create a virtual environment in $dir" >&2
      return 1
    }
    pip=("$python" -m pip --python "$dir/bin/python")
  fi
  # No pip cache in the home folder; the venv is the only thing left behind.
  "${pip[@]}" install --quiet --disable-pip-version-check --no-cache-dir --root-user-action=ignore "$@"
}

# apt_install_missing BINARY PACKAGE: installs the Debian package when BINARY is not there.
apt_install_missing() {
  local binary="$1" package="$2"
  [[ -x "$binary" ]] && return 0
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "$binary is missing: install the Debian package $package (as root: apt-get install $package)" >&2
    return 1
  fi
  echo "    installing the Debian package $package"
  # Waits for another apt run to release its lock instead of failing at once.
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" update
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "$package" >/dev/null
  [[ -x "$binary" ]] || {
    echo "the Debian package $package installed no $binary" >&2
    return 1
  }
}

# cargo_install_s3s_fs VERSION ROOT: builds s3s-fs into ROOT/bin from its published crate and lock.
# The lock of 0.14.1 pins spin 0.10.0, since yanked, and `cargo install --locked` warns about it
# at every install; the build takes the patch release 0.10.1 instead, every other version as
# published. Its scratch folder is a temporary one outside the project: inside it, cargo would take
# the throwaway packages for members of rollcall's own workspace and refuse to build them.
cargo_install_s3s_fs() {
  local version="$1" root="$2"
  local scratch
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/rollcall-s3s-fs.XXXXXX")"
  mkdir -p "$scratch/fetch/src"
  # A throwaway package that depends on the crate makes cargo itself fetch its source.
  printf '[package]\nname = "fetch-s3s-fs"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n[dependencies]\ns3s-fs = "=%s"\n' \
    "$version" >"$scratch/fetch/Cargo.toml"
  : >"$scratch/fetch/src/lib.rs"
  local manifest
  manifest="$(cargo metadata --quiet --format-version 1 --manifest-path "$scratch/fetch/Cargo.toml" |
    "${PYTHON:-python3}" -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "s3s-fs"))')"
  cp -R "$(dirname "$manifest")" "$scratch/s3s-fs"
  if grep -q '^version = "0.10.0"' <(grep -A1 '^name = "spin"' "$scratch/s3s-fs/Cargo.lock"); then
    cargo update --quiet --manifest-path "$scratch/s3s-fs/Cargo.toml" -p spin@0.10.0 --precise 0.10.1
  fi
  # The dev profile builds in less than half the time of a release build (2.7 against 5.8 min on
  # 2 cores), and the tests' objects are small enough that the server's speed does not show.
  cargo install --quiet --locked --debug --path "$scratch/s3s-fs" --features binary --root "$root"
  rm -rf "$scratch"
}
