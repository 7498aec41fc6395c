# The AWS CLI v2 and the AWS Tools for PowerShell modules the firstboot agent and
# step secrets use (S3, SNS, SSM).
$ErrorActionPreference = 'Stop'
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

$msi = Join-Path $env:TEMP 'AWSCLIV2.msi'
Invoke-WebRequest -UseBasicParsing -Uri 'https://awscli.amazonaws.com/AWSCLIV2.msi' -OutFile $msi
$signature = Get-AuthenticodeSignature -FilePath $msi
if ($signature.Status -ne 'Valid' -or $signature.SignerCertificate.Subject -notlike '*Amazon*') {
    throw "AWSCLIV2.msi is not signed by Amazon: $($signature.Status) $($signature.SignerCertificate.Subject)"
}
$install = Start-Process msiexec.exe -ArgumentList '/i', $msi, '/qn', '/norestart' -Wait -PassThru
Remove-Item $msi
if ($install.ExitCode -notin 0, 3010) { throw "the AWS CLI installer exited with $($install.ExitCode)" }

Install-PackageProvider -Name NuGet -MinimumVersion 2.8.5.201 -Force | Out-Null
Set-PSRepository -Name PSGallery -InstallationPolicy Trusted
Install-Module -Name AWS.Tools.Installer -Scope AllUsers -Force
Install-AWSToolsModule -Name AWS.Tools.S3, AWS.Tools.SimpleNotificationService, AWS.Tools.SimpleSystemsManagement -Scope AllUsers -Force -CleanUp
Get-Module -ListAvailable AWS.Tools.S3, AWS.Tools.SimpleNotificationService, AWS.Tools.SimpleSystemsManagement |
    Format-Table Name, Version -AutoSize | Out-String | Write-Output
