; Inno Setup recipe: wraps dist\FundusStudio (from `make package` on Windows) in an installer.
; Per-user install by default (no admin rights needed on locked-down clinic workstations).
#define AppVersion GetEnv("FUNDUS_STUDIO_VERSION")
[Setup]
AppName=Fundus Studio
AppVersion={#AppVersion}
AppPublisher=Fundus Studio
DefaultDirName={autopf}\Fundus Studio
DefaultGroupName=Fundus Studio
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputBaseFilename=FundusStudio-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
[Files]
Source: "..\..\dist\FundusStudio\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
[Icons]
Name: "{group}\Fundus Studio"; Filename: "{app}\FundusStudio.exe"
Name: "{autodesktop}\Fundus Studio"; Filename: "{app}\FundusStudio.exe"; Tasks: desktopicon
[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked
