#!/usr/bin/env bash
# macOS (run on a Mac, arm64 or x86_64; Xcode command line tools): build dist/FundusStudio.app
# with the spec's BUNDLE step, sign it when CODESIGN_ID is set, and wrap it in a .dmg.
#   packaging/macos/build_dmg.sh            -> dist/FundusStudio-<version>-macos-<arch>.dmg
# Signing + notarisation need the site's Apple Developer ID:
#   CODESIGN_ID="Developer ID Application: ..." NOTARY_PROFILE=<notarytool keychain profile> packaging/macos/build_dmg.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname)" = Darwin ] || { echo "build_dmg.sh runs on macOS only" >&2; exit 1; }
mkdir -p build/macos
# the .icns the .app shows, made from the 1024 px PNG icon (iconutil ships with macOS)
iconset=build/macos/fundus-studio.iconset
rm -rf "$iconset" && mkdir -p "$iconset"
for size in 16 32 128 256 512; do
  sips -z $size $size resources/icons/fundus-studio.png --out "$iconset/icon_${size}x${size}.png" >/dev/null
  sips -z $((size * 2)) $((size * 2)) resources/icons/fundus-studio.png --out "$iconset/icon_${size}x${size}@2x.png" >/dev/null
done
iconutil -c icns "$iconset" -o build/macos/fundus-studio.icns
FUNDUS_STUDIO_ICON=build/macos/fundus-studio.icns make package   # the spec adds BUNDLE -> dist/FundusStudio.app
app=dist/FundusStudio.app
version=$(/usr/libexec/PlistBuddy -c "Print CFBundleShortVersionString" "$app/Contents/Info.plist")
"$app/Contents/MacOS/FundusStudio" --selftest --quiet   # the bundle checks itself before it is shipped
if [ -n "${CODESIGN_ID:-}" ]; then
  codesign --deep --force --options runtime --timestamp --sign "$CODESIGN_ID" "$app"
  codesign --verify --strict --verbose=2 "$app"
fi
dmg="dist/FundusStudio-$version-macos-$(uname -m).dmg"
rm -f "$dmg"
hdiutil create -volname "Fundus Studio" -srcfolder "$app" -ov -format UDZO "$dmg"
if [ -n "${CODESIGN_ID:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
echo "$dmg"
