#!/usr/bin/env bash
# Re-vendors Swagger UI (the /docs page's only dependency) from the npm registry: the package's
# integrity hash is checked against the registry's, and SHA256SUMS records what was copied
# (`cargo test -p local` checks the committed files against it). Usage: ./vendor-swagger-ui.sh [version]
set -euo pipefail
version=${1:-5.35.0}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
expected=$(npm view "swagger-ui-dist@$version" dist.integrity)
tarball=$(npm pack --silent "swagger-ui-dist@$version")
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$expected" = "$actual" ] || { echo "integrity mismatch: $expected vs $actual" >&2; exit 1; }
tar xzf "$tarball"
files=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE)
for f in "${files[@]}"; do cp "package/$f" "$here/swagger-ui/$f"; done
cd "$here/swagger-ui"
{ echo "# swagger-ui-dist@$version ($expected)"; sha256sum "${files[@]}"; } > SHA256SUMS
echo "vendored swagger-ui-dist@$version"
