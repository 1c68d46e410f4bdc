#!/usr/bin/env bash
# Linux AppImage (optional): dist/FundusStudio (from `make package`) as an AppDir, then
# dist/FundusStudio-<version>-x86_64-<flavour>.AppImage when `appimagetool` is on PATH.
# appimagetool (and the AppImage runtime it embeds) is not on PyPI or in Debian: get it from
# https://github.com/AppImage/appimagetool/releases on a machine with internet access and
# check its checksum; without it this script stops after assembling dist/FundusStudio.AppDir.
set -euo pipefail
cd "$(dirname "$0")/../.."
info=dist/FundusStudio/_internal/build_info.json
[ -f "$info" ] || { echo "no $info: run make package first" >&2; exit 1; }
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$info" | head -1; }
version=$(field version); flavour=$(field flavour)
appdir=dist/FundusStudio.AppDir
rm -rf "$appdir" && mkdir -p "$appdir/usr/share/icons/hicolor/256x256/apps"
cp -a dist/FundusStudio "$appdir/FundusStudio"
cp resources/icons/fundus-studio.png "$appdir/fundus-studio.png"
cp resources/icons/fundus-studio.png "$appdir/usr/share/icons/hicolor/256x256/apps/"
sed -e 's|@APPDIR@/FundusStudio %F|FundusStudio %F|' -e '/^TryExec/d' \
  packaging/linux/fundus-studio.desktop > "$appdir/fundus-studio.desktop"
cat > "$appdir/AppRun" <<'RUN'
#!/bin/sh
here="$(dirname "$(readlink -f "$0")")"
exec "$here/FundusStudio/FundusStudio" "$@"
RUN
chmod +x "$appdir/AppRun"
"$appdir/AppRun" --selftest --quiet
if command -v appimagetool >/dev/null; then
  out="dist/FundusStudio-$version-x86_64-$flavour.AppImage"
  ARCH=x86_64 appimagetool --no-appstream "$appdir" "$out"
  echo "$out"
else
  echo "assembled $appdir; appimagetool not found (see the comment at the top of this script)" >&2
fi
