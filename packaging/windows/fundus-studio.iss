; Inno Setup 6 recipe: wraps dist\FundusStudio (from `make package` on Windows) in an installer.
; Build: packaging\windows\build_installer.ps1 (or: iscc packaging\windows\fundus-studio.iss).
; The version comes from FundusStudio.exe's version resource, which the spec writes from the
; package metadata, so there is one version number (pyproject.toml).
; Per-user install by default (no admin rights needed on locked-down clinic workstations);
; an administrator can choose "all users" in the dialog.
#define AppExe "..\..\dist\FundusStudio\FundusStudio.exe"
#define AppVersion GetStringFileInfo(AppExe, "ProductVersion")
#ifndef Flavour
  #define Flavour "cpu"
#endif
[Setup]
AppId={{6E0B7C52-2F4A-4C36-9A0C-FD5F1A2B7E11}
AppName=Fundus Studio
AppVersion={#AppVersion}
AppVerName=Fundus Studio {#AppVersion}
AppPublisher=Fundus Studio
DefaultDirName={autopf}\Fundus Studio
DefaultGroupName=Fundus Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
OutputDir=..\..\dist
OutputBaseFilename=FundusStudio-{#AppVersion}-windows-x64-{#Flavour}-setup
SetupIconFile=..\..\resources\icons\fundus-studio.ico
UninstallDisplayIcon={app}\FundusStudio.exe
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern
[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked
[Files]
Source: "..\..\dist\FundusStudio\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
[Icons]
Name: "{autoprograms}\Fundus Studio"; Filename: "{app}\FundusStudio.exe"
Name: "{autodesktop}\Fundus Studio"; Filename: "{app}\FundusStudio.exe"; Tasks: desktopicon
[Run]
; the installed bundle checks itself (no window); its one-line result goes to the setup log
Filename: "{app}\FundusStudio.exe"; Parameters: "--selftest --quiet"; Flags: runhidden waituntilterminated; StatusMsg: "Checking the installation..."
Filename: "{app}\FundusStudio.exe"; Description: "Start Fundus Studio"; Flags: nowait postinstall skipifsilent
[UninstallDelete]
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
