# bakery's generalize step for Windows: EC2Launch v2 resets its state and runs
# sysprep (generalize); bakery then stops the instance through the EC2 API.
$ErrorActionPreference = 'Stop'
$ec2launch = Join-Path $env:ProgramFiles 'Amazon\EC2Launch\ec2launch.exe'
if (-not (Test-Path $ec2launch)) {
    Write-Error "EC2Launch v2 is not installed at $ec2launch; bakery generalizes Windows images with it"
    exit 1
}
# The builder's deadline (its dead-man's switch keeps running until the stop).
Remove-Item -Force -ErrorAction SilentlyContinue (Join-Path $env:ProgramData 'bakery\deadline')
& $ec2launch reset --clean --block
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
& $ec2launch sysprep --clean --block
exit $LASTEXITCODE
