# Registers the bakery firstboot agent as a scheduled task that runs at startup as
# SYSTEM. Run once at bake time by bakery's firstboot step (firstboot/README.md).
param(
    [string]$Agent = (Join-Path $env:ProgramData 'bakery\bakery-firstboot.ps1')
)
$ErrorActionPreference = 'Stop'

$action = New-ScheduledTaskAction -Execute 'powershell.exe' `
    -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$Agent`""
$trigger = New-ScheduledTaskTrigger -AtStartup
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
# No time limit of its own beyond two hours; started again at the next boot if the
# marker is still there.
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Hours 2) `
    -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
Register-ScheduledTask -TaskName 'bakery-firstboot' -TaskPath '\bakery\' -Action $action `
    -Trigger $trigger -Principal $principal -Settings $settings `
    -Description 'bakery firstboot: fetch this instance''s runlist from S3 and run it' -Force | Out-Null
Write-Output 'bakery: firstboot scheduled task registered (\bakery\bakery-firstboot, at startup, SYSTEM)'
