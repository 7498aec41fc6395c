# Install the pending updates now, then set the policy instances follow: download
# automatically, install on a schedule (UPDATE_DAY: 0 = every day, 1-7 = Sunday-Saturday;
# UPDATE_HOUR: 0-23), never reboot while someone is logged on.
# While updates need a reboot, the step exits 3010: the builder reboots and the step runs
# again, until none is pending (at most `max_reboots` times; the recipe says how many).
$ErrorActionPreference = 'Stop'

$session = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$pending = $searcher.Search("IsInstalled=0 and IsHidden=0 and Type='Software'").Updates
Write-Output "updates pending: $($pending.Count)"
if ($pending.Count -gt 0) {
    $downloader = $session.CreateUpdateDownloader()
    $downloader.Updates = $pending
    $downloader.Download() | Out-Null
    $installer = $session.CreateUpdateInstaller()
    $installer.Updates = $pending
    $result = $installer.Install()
    Write-Output "install result: $($result.ResultCode), reboot required: $($result.RebootRequired)"
    # 2 = succeeded, 3 = succeeded with errors
    if ($result.ResultCode -notin 2, 3) { exit 1 }
    if ($result.RebootRequired) { exit 3010 }
}

$policy = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU'
New-Item -Path $policy -Force | Out-Null
Set-ItemProperty -Path $policy -Name NoAutoUpdate -Value 0 -Type DWord
Set-ItemProperty -Path $policy -Name AUOptions -Value 4 -Type DWord
Set-ItemProperty -Path $policy -Name ScheduledInstallDay -Value ([int]$env:UPDATE_DAY) -Type DWord
Set-ItemProperty -Path $policy -Name ScheduledInstallTime -Value ([int]$env:UPDATE_HOUR) -Type DWord
Set-ItemProperty -Path $policy -Name NoAutoRebootWithLoggedOnUsers -Value 1 -Type DWord
Write-Output "update policy: automatic download, install on day $env:UPDATE_DAY at $($env:UPDATE_HOUR):00"
