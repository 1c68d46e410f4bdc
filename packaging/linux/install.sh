#!/usr/bin/env bash
# Install the unpacked Fundus Studio tarball: the app folder, a menu entry and its icon.
#   ./install.sh               per user: ~/.local/opt/FundusStudio (no root needed)
#   sudo ./install.sh --system every user: /opt/FundusStudio, /usr/share/applications
#   ./install.sh --uninstall   remove it again (add --system for a system install)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
system=0; uninstall=0
for arg in "$@"; do
  case "$arg" in
    --system) system=1 ;;
    --uninstall) uninstall=1 ;;
    *) echo "unknown option $arg (use --system, --uninstall)" >&2; exit 2 ;;
  esac
done
if [ $system = 1 ]; then
  dest=/opt/FundusStudio; apps=/usr/share/applications; icons=/usr/share/icons/hicolor/256x256/apps; bin=/usr/local/bin
else
  dest="$HOME/.local/opt/FundusStudio"; apps="$HOME/.local/share/applications"
  icons="$HOME/.local/share/icons/hicolor/256x256/apps"; bin="$HOME/.local/bin"
fi
if [ $uninstall = 1 ]; then
  rm -rf "$dest" "$apps/fundus-studio.desktop" "$icons/fundus-studio.png"
  [ -L "$bin/fundus-studio" ] && rm -f "$bin/fundus-studio"
  echo "Removed Fundus Studio from $dest"
  exit 0
fi
mkdir -p "$(dirname "$dest")" "$apps" "$icons" "$bin"
rm -rf "$dest.new" && cp -a "$here/FundusStudio" "$dest.new" && rm -rf "$dest" && mv "$dest.new" "$dest"
cp "$here/fundus-studio.png" "$icons/fundus-studio.png"
sed "s|@APPDIR@|$dest|g" "$here/fundus-studio.desktop" > "$apps/fundus-studio.desktop"
ln -sfn "$dest/FundusStudio" "$bin/fundus-studio"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$(dirname "$(dirname "$icons")")" 2>/dev/null || true
echo "Installed Fundus Studio to $dest (menu: Graphics / Science; command: fundus-studio)"
echo "Check it with: $dest/FundusStudio --selftest"
