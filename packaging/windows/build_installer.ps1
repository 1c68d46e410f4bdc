# Windows (PowerShell, x64, Python 3.11 and Inno Setup 6 installed): build the bundle and its installer.
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_installer.ps1 [-Cuda]
# -> dist\FundusStudio\ and dist\FundusStudio-<version>-windows-x64-<cpu|cuda>-setup.exe
param([switch]$Cuda)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
if (-not (Test-Path .venv\Scripts\python.exe)) { py -3.11 -m venv .venv }
$py = ".venv\Scripts\python.exe"
& $py -m pip install --upgrade pip
if ($Cuda) {
  # CUDA build: torch from the PyTorch CUDA index first, so requirements.lock's pin is already met
  & $py -m pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cu126
  $flavour = "cuda"
} else {
  & $py -m pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
  $flavour = "cpu"
}
& $py -m pip install -r requirements.lock
& $py -m pip install --no-deps --no-build-isolation -e .
& $py -m pip install pyinstaller==6.17.0 pyinstaller-hooks-contrib==2026.9 altgraph==0.17.5
& .venv\Scripts\pyinstaller.exe --noconfirm --distpath dist --workpath build\pyinstaller packaging\fundus_studio.spec
# the bundle checks itself before it is wrapped (console=False: read the exit code)
$p = Start-Process dist\FundusStudio\FundusStudio.exe -ArgumentList "--selftest","--quiet" -Wait -PassThru -NoNewWindow
if ($p.ExitCode -ne 0) { throw "self-test failed ($($p.ExitCode))" }
$iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"
& $iscc "/DFlavour=$flavour" packaging\windows\fundus-studio.iss
