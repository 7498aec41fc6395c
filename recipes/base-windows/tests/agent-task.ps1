# The firstboot agent's scheduled task is registered, runs at startup as SYSTEM.
$ErrorActionPreference = 'Stop'
$task = Get-ScheduledTask -TaskPath '\bakery\' -TaskName 'bakery-firstboot'
if ($task.Principal.UserId -ne 'SYSTEM') { throw "the task runs as $($task.Principal.UserId), not SYSTEM" }
if (-not ($task.Triggers | Where-Object { $_.CimClass.CimClassName -eq 'MSFT_TaskBootTrigger' })) { throw 'the task has no startup trigger' }
if (-not (Test-Path 'C:\ProgramData\bakery\bakery-firstboot.ps1')) { throw 'the agent is missing' }
Write-Output 'firstboot task registered: at startup, as SYSTEM'
