#!/usr/bin/env bash
# Per-user install of the unpacked tarball: app in ~/.local/opt, menu entry in ~/.local/share/applications.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$HOME/.local/opt/FundusStudio"
mkdir -p "$HOME/.local/opt" "$HOME/.local/share/applications"
rm -rf "$dest" && cp -R "$here/FundusStudio" "$dest"
sed "s|@APPDIR@|$dest|g" "$here/fundus-studio.desktop" > "$HOME/.local/share/applications/fundus-studio.desktop"
echo "Installed to $dest"
