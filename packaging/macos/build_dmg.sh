#!/usr/bin/env bash
# macOS: turn dist/FundusStudio (from `make package`) into a .app inside a .dmg.
# Signing and notarisation need the site's Apple Developer ID (set CODESIGN_ID to sign).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(.venv/bin/python -c "import core; print(core.__version__)")
app=dist/FundusStudio.app
rm -rf "$app" && mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp -R dist/FundusStudio/. "$app/Contents/MacOS/"
sed "s/@VERSION@/$version/" packaging/macos/Info.plist > "$app/Contents/Info.plist"
[ -n "${CODESIGN_ID:-}" ] && codesign --deep --force --options runtime --sign "$CODESIGN_ID" "$app"
hdiutil create -volname "Fundus Studio" -srcfolder "$app" -ov -format UDZO "dist/FundusStudio-$version.dmg"
