#!/usr/bin/env bash
# Linux: dist/FundusStudio (from `make package`) as a tarball with a .desktop entry
# that `install.sh` puts in ~/.local (no root needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(.venv/bin/python -c "import core; print(core.__version__)")
stage=dist/fundus-studio-$version-linux
rm -rf "$stage" && mkdir -p "$stage"
cp -R dist/FundusStudio "$stage/FundusStudio"
cp packaging/linux/fundus-studio.desktop packaging/linux/install.sh "$stage/"
tar -C dist -czf "dist/fundus-studio-$version-linux-x86_64.tar.gz" "$(basename "$stage")"
echo "dist/fundus-studio-$version-linux-x86_64.tar.gz"
