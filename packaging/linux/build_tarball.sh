#!/usr/bin/env bash
# Linux: dist/FundusStudio (from `make package`) as
#   dist/FundusStudio-<version>-linux-x86_64-<cpu|cuda>.tar.gz
# holding the app folder, a .desktop entry, the icon and install.sh (per user, no root needed;
# `sudo ./install.sh --system` for every user of the workstation). Prints the archive's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=dist/FundusStudio
info="$bundle/_internal/build_info.json"
[ -f "$info" ] || { echo "no $info: run make package first" >&2; exit 1; }
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$info" | head -1; }
version=$(field version); flavour=$(field flavour)
name="FundusStudio-$version-linux-x86_64-$flavour"
stage="dist/$name"
rm -rf "$stage" && mkdir -p "$stage"
cp -a "$bundle" "$stage/FundusStudio"
cp packaging/linux/fundus-studio.desktop packaging/linux/install.sh "$stage/"
cp resources/icons/fundus-studio.png "$stage/fundus-studio.png"
cat > "$stage/README.txt" <<TXT
Fundus Studio $version for Linux x86-64 ($flavour build). Not for diagnostic use.

Install for yourself:       ./install.sh             (~/.local/opt, menu entry, icon)
Install for every user:     sudo ./install.sh --system   (/opt, /usr/share/applications)
Uninstall:                  ./install.sh --uninstall   (or sudo ./install.sh --system --uninstall)
Run without installing:     ./FundusStudio/FundusStudio
Check the installation:     FundusStudio --selftest   (no display needed; prints one line, exit code 0)

Needs a desktop Linux from the last five years (glibc 2.28+, X11 or Wayland, fontconfig).
Licences of the bundled components: FundusStudio/_internal/licenses/.
TXT
chmod +x "$stage/install.sh"
tar -C dist -czf "dist/$name.tar.gz" "$name"
rm -rf "$stage"
echo "dist/$name.tar.gz"
