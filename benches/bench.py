"""Runs bakery and Packer against the bench emulator; see scripts/bench."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

import boto3

ROUNDS = int(sys.argv[1])
BAKERY = sys.argv[2]
# How many roles the cost of deciding is measured with (0: skip that part).
DECIDE_ROLES = int(os.environ.get("BENCH_DECIDE_ROLES", "50"))
# Only the cost of deciding (no Packer side-by-side).
DECIDE_ONLY = os.environ.get("BENCH_DECIDE_ONLY") == "1"
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
LOG = os.path.join(".local-aws", "bench", "moto.log")
DELAYS = {
    "instance_pending_seconds": 2, "instance_stopping_seconds": 2,
    "instance_shutting_down_seconds": 2, "image_pending_seconds": 5,
    "ssm_online_after_seconds": 0, "command_seconds": 0,
}


def configure(region, delays=None):
    body = json.dumps(dict(delays if delays is not None else DELAYS, region=region)).encode()
    request = urllib.request.Request(f"{ENDPOINT}/bakery-emulator/config", data=body, method="POST")
    urllib.request.urlopen(request).read()


def requests_so_far():
    with open(LOG, encoding="utf-8", errors="replace") as log:
        return sum(1 for line in log if '"POST / HTTP' in line or '"GET / HTTP' in line)


def measure(argv, env, allowed=(0,)):
    before = requests_so_far()
    started = time.monotonic()
    # A file, not a pipe: a long event log would fill a pipe nobody reads while waiting.
    with open(os.path.join(".local-aws", "bench", "stderr.log"), "w+b") as errors:
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) not in allowed:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{stderr[-2000:]}")
    time.sleep(0.2)  # the server's log lines for the last requests
    return seconds, usage.ru_maxrss / 1024, requests_so_far() - before


def decide(roles):
    """The cost of deciding: `bake --all --if-changed` when nothing changed, and
    `outdated`, for `roles` roles that each have a release."""
    region = "us-west-2"
    configure(region, {key: 0 for key in DELAYS})
    env = dict(os.environ, AWS_REGION=region)
    folder = os.path.join(".local-aws", "bench", "roles")
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(roles):
        role = os.path.join(folder, f"role{i:02d}")
        shutil.copytree("benches/recipe-noop", role)
        with open(os.path.join(role, "recipe.toml"), encoding="utf-8") as f:
            text = f.read().replace('name = "bench"', f'name = "role{i:02d}"')
        with open(os.path.join(role, "recipe.toml"), "w", encoding="utf-8") as f:
            f.write(text)
    measure([BAKERY, "bake", "--all", folder, "--version", "1.0.0", "--jobs", "16",
             "--progress", "plain"], env)
    print(f"\nThe cost of deciding, {roles} roles with a release each (no change):\n")
    print("| command | wall time | API requests | per role |")
    print("|---|---|---|---|")
    for name, argv in {
        "bake --all --if-changed": [BAKERY, "bake", "--all", folder, "--bump", "patch",
                                    "--if-changed", "--jobs", "16", "--progress", "plain"],
        "outdated": [BAKERY, "outdated", folder],
    }.items():
        seconds, _, requests = measure(argv, env, allowed=(0, 4))
        print(f"| {name} | {seconds:.1f} s | {requests} | {requests / roles:.1f} |", flush=True)


def main():
    if DECIDE_ONLY:
        decide(DECIDE_ROLES)
        return
    region = "us-east-2"
    configure(region)
    env = dict(os.environ, AWS_REGION=region)
    ssm = boto3.client("ssm", endpoint_url=ENDPOINT, region_name=region)
    source_ami = ssm.get_parameter(
        Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )["Parameter"]["Value"]
    tools = {
        "bakery": lambda n: (
            [BAKERY, "bake", "benches/recipe-noop", "--version", f"1.0.{n}", "--progress", "plain"], env),
        "packer (default poll delay)": lambda n: (
            ["packer", "build", "-var", f"source_ami={source_ami}", "-var", f"ami_name=packer-default-{n}",
             "benches/packer-amazon-ebs.json"], env),
        "packer (AWS_POLL_DELAY_SECONDS=1)": lambda n: (
            ["packer", "build", "-var", f"source_ami={source_ami}", "-var", f"ami_name=packer-poll1-{n}",
             "benches/packer-amazon-ebs.json"], dict(env, AWS_POLL_DELAY_SECONDS="1")),
    }
    print(f"{ROUNDS} bakes each; instances 2 s per transition, images 5 s pending\n")
    print("| tool | wall time, median (min-max) | peak RSS | API requests per bake |")
    print("|---|---|---|---|")
    for name, make in tools.items():
        runs = [measure(*make(n)) for n in range(ROUNDS)]
        walls = [r[0] for r in runs]
        print(
            f"| {name} | {statistics.median(walls):.1f} s ({min(walls):.1f}-{max(walls):.1f}) "
            f"| {max(r[1] for r in runs):.0f} MB | {statistics.median(r[2] for r in runs):.0f} |",
            flush=True,
        )
    if DECIDE_ROLES:
        decide(DECIDE_ROLES)


main()
