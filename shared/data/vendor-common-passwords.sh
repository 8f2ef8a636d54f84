#!/bin/sh
# Regenerates common-passwords.txt, the blocklist of shared/src/strength.rs: the COUNT most common
# passwords of the ranked list that the `zxcvbn` crate ships (MIT; Dropbox's list, drawn from
# leaked password corpora), lower-cased, sorted bytewise, one a line. The crate itself is not a
# dependency: with its 94,000-word dictionaries it would add 0.9 MB to a zipped artifact and 7 MB
# to a function's memory (ARCHITECTURE.md §10); this takes only the list. Fetched with cargo from
# crates.io like any dependency (checksum verified by cargo), at the pinned version.
set -eu
VERSION=3.1.1
COUNT=10000
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
printf '[package]\nname = "fetch-zxcvbn"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nzxcvbn = { version = "=%s", default-features = false }\n' "$VERSION" >"$work/Cargo.toml"
: >"$work/src/lib.rs"
CARGO_TARGET_DIR="$work/target" cargo fetch --manifest-path "$work/Cargo.toml" >/dev/null
src=$(cargo metadata --format-version 1 --manifest-path "$work/Cargo.toml" |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="zxcvbn"))')
lists="$(dirname "$src")/src/frequency_lists.rs"
python3 - "$lists" "$COUNT" >"$here/common-passwords.txt" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
words = re.search(r'const PASSWORDS: &str = "([^"]*)";', text).group(1).split(",")
top = sorted({w.lower() for w in words[: int(sys.argv[2])] if w}, key=lambda w: w.encode())
sys.stdout.write("\n".join(top) + "\n")
PY
echo "wrote $(wc -l <"$here/common-passwords.txt") passwords from zxcvbn $VERSION"
