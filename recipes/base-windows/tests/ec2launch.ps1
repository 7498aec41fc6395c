# EC2Launch v2 ran this instance's boot: sysprep left it to set the instance up.
$ErrorActionPreference = 'Stop'
$state = Join-Path $env:ProgramData 'Amazon\EC2Launch\state\state.json'
if (-not (Test-Path $state)) { throw "EC2Launch v2 left no $state: it did not run on this boot" }
$service = Get-Service -Name 'Amazon EC2Launch' -ErrorAction SilentlyContinue
if ($null -eq $service) { throw 'the EC2Launch v2 service is not installed' }
Write-Output "EC2Launch v2 ran; its service is $($service.Status)"
