# bakery firstboot agent for Windows: on an instance's first boot, fetch its runlist
# from S3 and run it; alert over SNS when that fails. The contract (files, config
# keys, exit codes, the alert) is firstboot/README.md; the Linux agent does the same.
#
# Exit codes: 0 done or nothing to do, 1 the runner failed, 2 bad config,
# 3 instance metadata unavailable, 4 the runlist could not be fetched.
# Dot-sourcing this file (as the Pester tests do) defines the functions only.

$ErrorActionPreference = 'Stop'

$script:Root = if ($env:BAKERY_FIRSTBOOT_ROOT) { $env:BAKERY_FIRSTBOOT_ROOT } else { 'C:' }
$script:DataDir = if ($env:BAKERY_FIRSTBOOT_ROOT) { Join-Path $env:BAKERY_FIRSTBOOT_ROOT 'ProgramData\bakery' } else { Join-Path $env:ProgramData 'bakery' }
$script:Marker = Join-Path $script:Root 'firstboot.txt'
$script:ConfigPath = Join-Path $script:DataDir 'firstboot.json'
$script:LogPath = Join-Path $script:DataDir 'firstboot.log'
$script:WorkDir = Join-Path $script:DataDir 'firstboot'
$script:Imds = if ($env:BAKERY_IMDS_ENDPOINT) { $env:BAKERY_IMDS_ENDPOINT } else { 'http://169.254.169.254' }
$script:ImdsToken = $null

function Write-FirstbootLog([string]$Message) {
    $line = '{0} bakery-firstboot: {1}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'), $Message
    Add-Content -Path $script:LogPath -Value $line
}

# The value of a config key, or $null when it is absent.
function Get-ConfigValue($Config, [string]$Name) {
    $property = $Config.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    return $property.Value
}

function Get-Metadata([string]$Item) {
    $headers = @{ 'X-aws-ec2-metadata-token' = $script:ImdsToken }
    return Invoke-RestMethod -Uri "$script:Imds/latest/meta-data/$Item" -Headers $headers -TimeoutSec 5
}

function Get-ImdsToken {
    $headers = @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '21600' }
    return Invoke-RestMethod -Method Put -Uri "$script:Imds/latest/api/token" -Headers $headers -TimeoutSec 5
}

# Endpoint redirection for the AWS Tools, as AWS_ENDPOINT_URL does for the CLI.
function Get-EndpointArgs {
    if ($env:AWS_ENDPOINT_URL) { return @{ EndpointUrl = $env:AWS_ENDPOINT_URL } }
    return @{}
}

class FirstbootFailure : System.Exception {
    [int]$AgentStatus
    [int]$CommandStatus
    [string]$Phase
    FirstbootFailure([string]$phase, [int]$agentStatus, [int]$commandStatus, [string]$message) : base($message) {
        $this.Phase = $phase
        $this.AgentStatus = $agentStatus
        $this.CommandStatus = $commandStatus
    }
}

# The outcome, for whoever asks (a release gate reads it over SSM), as the Linux agent
# writes it; written by a rename, so a reader never sees half of it.
function Write-FirstbootOutcome([hashtable]$Facts, [string]$Phase, [int]$ExitCode, [int]$CommandExitCode, [string]$Message) {
    $outcome = [ordered]@{
        phase             = $Phase
        exit_code         = $ExitCode
        command_exit_code = $CommandExitCode
        error             = $Message
        finished_at       = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
        role              = $Facts.role
        version           = $Facts.version
    }
    $path = Join-Path $script:WorkDir 'outcome.json'
    Set-Content -Path "$path.new" -Value ($outcome | ConvertTo-Json -Compress)
    Move-Item -Force -Path "$path.new" -Destination $path
}

function Stop-Firstboot([string]$Phase, [int]$AgentStatus, [int]$CommandStatus, [string]$Message) {
    throw [FirstbootFailure]::new($Phase, $AgentStatus, $CommandStatus, $Message)
}

# {name} in the runlist location: role, version, region, instance_id, else the
# instance tag `name` (instance metadata tags), else the environment variable `name`.
function Resolve-Location([string]$Location, [hashtable]$Known) {
    $filled = ''
    $rest = $Location
    while ($rest -match '^(.*?)\{([^{}]*)\}(.*)$') {
        $before = $Matches[1]
        $name = $Matches[2]
        $after = $Matches[3]
        if ($Known.ContainsKey($name)) {
            $value = $Known[$name]
        } elseif ($name -notmatch '^[A-Za-z0-9_.:-]+$') {
            Stop-Firstboot 'config' 2 2 "invalid placeholder {$name} in $Location"
        } else {
            $value = $null
            try { $value = [string](Get-Metadata "tags/instance/$name") } catch { }
            if (-not $value) { $value = [Environment]::GetEnvironmentVariable($name) }
            if (-not $value) {
                Stop-Firstboot 'config' 2 2 "placeholder {$name} in $Location has no value: no instance tag $name (are instance metadata tags enabled?) and no environment variable $name"
            }
        }
        $filled += $before + $value
        $rest = $after
    }
    return $filled + $rest
}

function Send-FirstbootAlert($config, [hashtable]$Facts, [FirstbootFailure]$Failure, [bool]$MarkerKept) {
    if ($null -eq $config) { return }
    $topic = Get-ConfigValue $config 'sns_topic'
    if (-not $topic) { return }
    $tail = (Get-Content -Path $script:LogPath -Tail 30) -join "`n"
    $alert = [ordered]@{
        event       = 'firstboot-failed'
        role        = $Facts.role
        version     = $Facts.version
        instance_id = $Facts.instance_id
        region      = $Facts.region
        phase       = $Failure.Phase
        exit_code   = $Failure.CommandStatus
        error       = $Failure.Message
        marker_kept = $MarkerKept
        log_tail    = $tail
    }
    $subject = "bakery firstboot: $($Facts.role) $($Facts.version) failed at $($Failure.Phase) on $($Facts.instance_id)"
    if ($subject.Length -gt 100) { $subject = $subject.Substring(0, 100) }
    $endpoint = Get-EndpointArgs
    try {
        Publish-SNSMessage -TopicArn $topic -Subject $subject -Message ($alert | ConvertTo-Json -Compress) -Region ($topic.Split(':')[3]) @endpoint | Out-Null
        Write-FirstbootLog "alert published to $topic"
    } catch {
        Write-FirstbootLog "could not publish the alert to ${topic}: $_"
    }
}

function Invoke-Firstboot {
    if (-not (Test-Path -LiteralPath $script:Marker)) { return 0 }
    New-Item -ItemType Directory -Force -Path $script:DataDir, $script:WorkDir | Out-Null
    $facts = @{ role = 'unknown'; version = 'unknown'; instance_id = 'unknown'; region = '' }
    $config = $null
    try {
        try {
            $config = Get-Content -Raw -Path $script:ConfigPath | ConvertFrom-Json
        } catch {
            Stop-Firstboot 'config' 2 2 "cannot read ${script:ConfigPath}: $_"
        }
        $role = Get-ConfigValue $config 'role'
        if ($role) { $facts.role = [string]$role }
        $version = Get-ConfigValue $config 'version'
        if ($version) { $facts.version = [string]$version }
        $region = Get-ConfigValue $config 'region'
        if ($region) { $facts.region = [string]$region }
        Write-FirstbootLog "first boot of $($facts.role) $($facts.version)"
        $runlist = Get-ConfigValue $config 'runlist'
        $runner = Get-ConfigValue $config 'runner'
        if (-not $runlist -and -not $runner) {
            Write-FirstbootLog 'no runlist and no runner configured: nothing to run'
            Remove-Item -Force -LiteralPath $script:Marker
            Write-FirstbootOutcome $facts 'done' 0 0 ''
            return 0
        }
        if (-not $runner) { Stop-Firstboot 'config' 2 2 "runlist $runlist is configured without a runner" }

        for ($attempt = 1; -not $script:ImdsToken; $attempt++) {
            try { $script:ImdsToken = Get-ImdsToken } catch {
                if ($attempt -ge 6) { Stop-Firstboot 'metadata' 3 3 "no IMDSv2 token from $($script:Imds)" }
                Start-Sleep -Seconds 2
            }
        }
        try {
            $facts.instance_id = [string](Get-Metadata 'instance-id')
            if (-not $facts.region) { $facts.region = [string](Get-Metadata 'placement/region') }
        } catch {
            Stop-Firstboot 'metadata' 3 3 "instance metadata unavailable at $($script:Imds): $_"
        }

        # A release gate's test instance may be given another runlist, or none, by its tag.
        $override = $null
        try { $override = [string](Get-Metadata 'tags/instance/bakery:firstboot-runlist') } catch { }
        if ($override -eq 'none') {
            Write-FirstbootLog 'instance tag bakery:firstboot-runlist is none: nothing to run on this instance'
            Remove-Item -Force -LiteralPath $script:Marker
            Write-FirstbootOutcome $facts 'done' 0 0 ''
            return 0
        }
        if ($override) {
            Write-FirstbootLog "instance tag bakery:firstboot-runlist: $override instead of $runlist"
            $runlist = $override
        }

        $command = $runner
        if ($runlist) {
            $location = Resolve-Location $runlist $facts
            if ($location -notmatch '^s3://([^/]+)/(.+)$') { Stop-Firstboot 'config' 2 2 "runlist $location is not an s3:// URI" }
            $bucket = $Matches[1]
            $key = $Matches[2]
            $runlistFile = Join-Path $script:WorkDir 'runlist'
            $attempts = Get-ConfigValue $config 'fetch_attempts'
            if (-not $attempts) { $attempts = 5 }
            $budget = Get-ConfigValue $config 'fetch_timeout'
            if (-not $budget) { $budget = 300 }
            $deadline = (Get-Date).AddSeconds($budget)
            $pause = 2
            $endpoint = Get-EndpointArgs
            for ($attempt = 1; ; $attempt++) {
                Write-FirstbootLog "fetching $location (attempt $attempt of $attempts)"
                try {
                    Read-S3Object -BucketName $bucket -Key $key -File $runlistFile -Region $facts.region @endpoint | Out-Null
                    break
                } catch {
                    Write-FirstbootLog "$_"
                    if ($attempt -ge $attempts -or (Get-Date).AddSeconds($pause) -ge $deadline) {
                        Stop-Firstboot 'fetch' 4 1 "could not fetch $location after $attempt attempts"
                    }
                    Start-Sleep -Seconds $pause
                    $pause *= 2
                }
            }
            # Readable by SYSTEM and Administrators only.
            if ($IsWindows -ne $false) {
                icacls.exe $runlistFile /inheritance:r /grant:r 'SYSTEM:F' 'Administrators:F' | Out-Null
            }
            if ($runner.Contains('{runlist}')) { $command = $runner.Replace('{runlist}', $runlistFile) } else { $command = "$runner $runlistFile" }
        }

        Write-FirstbootLog "running: $command"
        $global:LASTEXITCODE = 0
        # The same PowerShell that runs the agent (powershell.exe on Windows).
        $shell = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
        & $shell -NoProfile -ExecutionPolicy Bypass -Command $command *>> $script:LogPath
        $status = $LASTEXITCODE
        if ($status -ne 0) { Stop-Firstboot 'run' 1 $status "the runner exited with $status" }
        Remove-Item -Force -LiteralPath $script:Marker
        Write-FirstbootLog 'done: marker removed'
        Write-FirstbootOutcome $facts 'done' 0 0 ''
        return 0
    } catch [FirstbootFailure] {
        $failure = $_.Exception
        Write-FirstbootLog "failed at $($failure.Phase) (exit $($failure.CommandStatus)): $($failure.Message)"
        Write-FirstbootOutcome $facts $failure.Phase $failure.AgentStatus $failure.CommandStatus $failure.Message
        $retry = if ($null -ne $config) { Get-ConfigValue $config 'retry' } else { $null }
        $markerKept = $retry -ne $false
        Send-FirstbootAlert $config $facts $failure $markerKept
        if ($markerKept) {
            Write-FirstbootLog 'marker kept: the next boot retries'
        } else {
            Remove-Item -Force -LiteralPath $script:Marker
            Write-FirstbootLog 'retry = false: marker removed, the next boot will not run the runlist again'
        }
        return $failure.AgentStatus
    }
}

if ($MyInvocation.InvocationName -ne '.') {
    exit (Invoke-Firstboot)
}
