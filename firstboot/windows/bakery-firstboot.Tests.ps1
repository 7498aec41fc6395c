# Pester 5 tests of the Windows agent: the cases the Linux agent's end-to-end tests
# cover (tests/e2e/firstboot.rs), with S3, SNS and the metadata service mocked.
# Run with: Invoke-Pester firstboot/windows (scripts/test runs it when pwsh exists).

BeforeAll {
    foreach ($name in 'Read-S3Object', 'Publish-SNSMessage') {
        if (-not (Get-Command $name -ErrorAction SilentlyContinue)) {
            # AWS.Tools is not installed here: stand-ins for Pester to mock.
            New-Item -Path "function:global:$name" -Value { param($BucketName, $Key, $File, $Region, $TopicArn, $Subject, $Message, $EndpointUrl) } | Out-Null
        }
    }
}

Describe 'bakery-firstboot.ps1' {
    BeforeEach {
        $root = Join-Path ([IO.Path]::GetTempPath()) ("bakery-fb-" + [guid]::NewGuid())
        New-Item -ItemType Directory -Path (Join-Path $root 'ProgramData\bakery') -Force | Out-Null
        $env:BAKERY_FIRSTBOOT_ROOT = $root
        $env:BAKERY_IMDS_ENDPOINT = 'http://imds.test'
        . (Join-Path $PSScriptRoot 'bakery-firstboot.ps1')
        $script:published = @()
        Mock Invoke-RestMethod {
            if ($Method -eq 'Put') { return 'token' }
            switch -Wildcard ($Uri) {
                '*/instance-id' { return 'i-0123456789abcdef0' }
                '*/placement/region' { return 'eu-west-1' }
                '*/tags/instance/environment' { return 'prod' }
                default { throw "404 $Uri" }
            }
        }
        Mock Read-S3Object {
            if ($Key -eq 'prod/zookeeper.json') { Set-Content -Path $File -Value '{"run_list":[]}'; return }
            throw "The specified key does not exist: $Key"
        }
        Mock Publish-SNSMessage { $script:published += [pscustomobject]@{ Subject = $Subject; Message = ($Message | ConvertFrom-Json) } }

        function Write-Config([hashtable]$Overrides) {
            $config = [ordered]@{
                role = 'zookeeper'; version = '1.2.0'; runlist = 's3://runlists/{environment}/{role}.json'
                runner = "Get-Content {runlist}; Set-Content -Path '$root\ran.txt' -Value {runlist}"
                sns_topic = 'arn:aws:sns:eu-west-1:123456789012:firstboot'; retry = $true
                fetch_attempts = 2; fetch_timeout = 30
            }
            foreach ($key in $Overrides.Keys) { $config[$key] = $Overrides[$key] }
            $config | ConvertTo-Json | Set-Content -Path (Join-Path $root 'ProgramData\bakery\firstboot.json')
            Set-Content -Path (Join-Path $root 'firstboot.txt') -Value 'bakery firstboot marker'
        }
    }
    AfterEach { Remove-Item -Recurse -Force $root }

    It 'does nothing when the marker is absent' {
        Invoke-Firstboot | Should -Be 0
        Should -Invoke Read-S3Object -Times 0
        Test-Path (Join-Path $root 'ProgramData\bakery\firstboot.log') | Should -BeFalse
    }

    It 'fetches the runlist named by the tags, runs the runner with it and removes the marker' {
        Write-Config @{}
        Invoke-Firstboot | Should -Be 0
        Should -Invoke Read-S3Object -Times 1 -ParameterFilter { $BucketName -eq 'runlists' -and $Key -eq 'prod/zookeeper.json' }
        Get-Content (Join-Path $root 'ran.txt') | Should -BeLike '*firstboot*runlist'
        Test-Path (Join-Path $root 'firstboot.txt') | Should -BeFalse
    }

    It 'alerts with the run phase and keeps the marker when the runner fails' {
        Write-Config @{ runner = 'exit 7' }
        Invoke-Firstboot | Should -Be 1
        $script:published.Count | Should -Be 1
        $alert = $script:published[0].Message
        $alert.phase | Should -Be 'run'
        $alert.exit_code | Should -Be 7
        $alert.role | Should -Be 'zookeeper'
        $alert.version | Should -Be '1.2.0'
        $alert.instance_id | Should -Be 'i-0123456789abcdef0'
        $alert.region | Should -Be 'eu-west-1'
        $alert.marker_kept | Should -BeTrue
        $script:published[0].Subject | Should -Be 'bakery firstboot: zookeeper 1.2.0 failed at run on i-0123456789abcdef0'
        Test-Path (Join-Path $root 'firstboot.txt') | Should -BeTrue
    }

    It 'names the fetch phase when the runlist is missing' {
        Write-Config @{ runlist = 's3://runlists/{environment}/missing.json' }
        Invoke-Firstboot | Should -Be 4
        $script:published[0].Message.phase | Should -Be 'fetch'
        Should -Invoke Read-S3Object -Times 2
    }

    It 'removes the marker after the alert when retry is false' {
        Write-Config @{ runner = 'exit 3'; retry = $false }
        Invoke-Firstboot | Should -Be 1
        $script:published[0].Message.marker_kept | Should -BeFalse
        Test-Path (Join-Path $root 'firstboot.txt') | Should -BeFalse
    }
}
