"""bakery against Packer 1.6.6's amazon-ebs builder on one emulator, under latency
models; writes docs/benchmarks.md and docs/benchmarks.json. See scripts/bench."""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "")
WORK = os.path.join(".local-aws", "bench")
LOG = os.path.join(WORK, "moto.log")
SOURCE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

# Typical times on AWS for a t3 builder with an 8 GiB gp3 root volume (what a baker
# sees in the console; AWS publishes no figures): pending → running 15 s, stopping 30 s,
# an AMI's first snapshots 5 minutes, shutting-down 30 s. `aws/F` divides them by F.
AWS_TYPICAL = {"pending": 15.0, "stopping": 30.0, "image": 300.0, "shutting_down": 30.0}


class Model:
    """How long the emulator takes for each transition of the minimal chain."""

    def __init__(self, spec):
        self.spec = spec
        if spec.startswith("aws/"):
            factor = float(spec[4:])
            self.seconds = {k: v / factor for k, v in AWS_TYPICAL.items()}
            self.words = f"AWS's typical times divided by {spec[4:]}"
        else:
            # `I/M`: instances I seconds per transition, images M seconds pending.
            instance, image = (float(x.rstrip("s")) for x in spec.split("/"))
            self.seconds = {"pending": instance, "stopping": instance,
                            "image": image, "shutting_down": instance}
            self.words = f"instances {instance:g} s per transition, images {image:g} s"
        s = self.seconds
        self.words += (f" (pending {s['pending']:g} s, stopping {s['stopping']:g} s, "
                       f"image {s['image']:g} s, shutting-down {s['shutting_down']:g} s)")

    @property
    def total(self):
        """The transitions of one bake, one after another: the physical limit."""
        return sum(self.seconds.values())

    def delays(self):
        s = self.seconds
        return {
            "instance_pending_seconds": s["pending"],
            "instance_stopping_seconds": s["stopping"],
            "instance_shutting_down_seconds": s["shutting_down"],
            "image_pending_seconds": s["image"],
            "ssm_online_after_seconds": 0, "command_seconds": 0,
        }


def configure(region, delays):
    body = json.dumps(dict(delays, region=region)).encode()
    request = urllib.request.Request(f"{ENDPOINT}/bakery-emulator/config", data=body, method="POST")
    urllib.request.urlopen(request).read()


def calls_so_far():
    """Calls by action, as the emulator counted them (GET /bakery-emulator/calls)."""
    with urllib.request.urlopen(f"{ENDPOINT}/bakery-emulator/calls") as answer:
        counted = json.load(answer)
    by_action = {}
    for key, count in counted.items():
        action = key.split(" ", 1)[1]
        by_action[action] = by_action.get(action, 0) + count
    return by_action


def requests_so_far():
    with open(LOG, encoding="utf-8", errors="replace") as log:
        return sum(1 for line in log if '"POST / HTTP' in line or '"GET / HTTP' in line)


class Run:
    """Processes started together; measured until the last one ends."""

    def __init__(self, commands, allowed=(0,)):
        self.before = requests_so_far()
        self.calls_before = calls_so_far()
        self.started = time.monotonic()
        self.allowed = allowed
        self.children = []
        for n, (argv, env) in enumerate(commands):
            # A file, not a pipe: a long event log would fill a pipe nobody reads.
            errors = open(os.path.join(WORK, f"stderr-{n}.log"), "w+b")
            child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            self.children.append((argv, child, errors))

    def wait(self):
        rss = []
        for argv, child, errors in self.children:
            _, status, usage = os.wait4(child.pid, 0)
            rss.append(usage.ru_maxrss / 1024)
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
            errors.close()
            if os.waitstatus_to_exitcode(status) not in self.allowed:
                sys.exit(f"bench: {' '.join(argv)} failed:\n{stderr[-3000:]}")
        seconds = time.monotonic() - self.started
        time.sleep(0.3)  # the server's log lines for the last requests
        calls = {action: count - self.calls_before.get(action, 0)
                 for action, count in calls_so_far().items()}
        return {"seconds": seconds, "peak_rss_mb": max(rss), "rss_sum_mb": sum(rss),
                "requests": requests_so_far() - self.before,
                "calls": {a: c for a, c in sorted(calls.items()) if c}}


def measure(commands, allowed=(0,)):
    return Run(commands, allowed).wait()


def role_folder(folder, name, base=None):
    """A copy of benches/recipe-noop named `name`, layered on role `base` if given."""
    shutil.copytree("benches/recipe-noop", os.path.join(folder, name))
    path = os.path.join(folder, name, "recipe.toml")
    with open(path, encoding="utf-8") as f:
        text = f.read().replace('name = "bench"', f'name = "{name}"')
    if base:
        text = text.replace(f'base = {{ ssm_parameter = "{SOURCE_PARAMETER}" }}',
                            f'base = {{ role = "{base}", channel = "latest" }}')
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return os.path.join(folder, name)


class Bench:
    def __init__(self, args, bakery):
        self.args = args
        self.bakery = bakery
        self.serial = int(time.time()) % 100000  # versions and names unique per run

    def version(self):
        self.serial += 1
        return f"1.{self.serial}.0"

    def bakery_bake(self, env, path, *extra):
        return ([self.bakery, "bake", path, "--version", self.version(), "--progress", "plain",
                 *extra], env)

    def packer(self, env, poll):
        self.serial += 1
        name = f"packer-{poll}-{self.serial}"
        if poll != "default":
            env = dict(env, AWS_POLL_DELAY_SECONDS=str(poll))
        return (["packer", "build", "-var", f"source_ami={self.source_ami}", "-var",
                 f"ami_name={name}", "benches/packer-amazon-ebs.json"], env)

    def run_model(self, model, region):
        configure(region, model.delays())
        env = dict(os.environ, AWS_REGION=region)
        import boto3  # the emulator's virtualenv has it; --render needs none of this

        ssm = boto3.client("ssm", endpoint_url=ENDPOINT, region_name=region)
        self.source_ami = ssm.get_parameter(Name=SOURCE_PARAMETER)["Parameter"]["Value"]
        result = {"model": model.spec, "words": model.words, "seconds": model.seconds,
                  "total": model.total, "region": region}
        # bakery keeps the durations it saw (BAKERY_TIMINGS): one bake first, unmeasured,
        # as a machine that bakes has seen them; "bakery_cold" is a first bake ever.
        say(f"{model.spec}: a first bake, unmeasured, then {self.args.rounds} rounds")
        measure([self.bakery_bake(env, "benches/recipe-noop")])
        cold = dict(env, BAKERY_TIMINGS="none")
        tools = {"bakery": lambda: self.bakery_bake(env, "benches/recipe-noop"),
                 "packer_1s": lambda: self.packer(env, 1),
                 "packer_default": lambda: self.packer(env, "default"),
                 "bakery_cold": lambda: self.bakery_bake(cold, "benches/recipe-noop")}
        runs = {name: [] for name in tools}
        for _ in range(self.args.rounds):
            # Alternating, so that a slow moment of the machine hits every tool.
            for name, make in tools.items():
                runs[name].append(measure([make()]))
        one = {}
        for name, rs in runs.items():
            walls = [r["seconds"] for r in rs]
            one[name] = {"runs": rs, "median": statistics.median(walls), "min": min(walls),
                         "max": max(walls), "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                         "requests": statistics.median(r["requests"] for r in rs)}
        for packer in ("packer_1s", "packer_default"):
            ratios = [b["seconds"] / p["seconds"] for b, p in zip(runs["bakery"], runs[packer])]
            one["bakery"][f"ratio_{packer}"] = statistics.median(ratios)
            one["bakery"][f"ratios_{packer}"] = ratios
        one["bakery"]["overhead"] = one["bakery"]["median"] / model.total - 1
        result["one"] = one
        result["scale"] = self.scale(env, model)
        result["world"] = self.world(env, model)
        return result

    def scale(self, env, model):
        rows = []
        for n in self.args.scale:
            say(f"{model.spec}: {n} roles in one bakery, {n} Packer processes at once")
            folder = os.path.join(WORK, f"scale-{n}")
            shutil.rmtree(folder, ignore_errors=True)
            for i in range(n):
                role_folder(folder, f"s{n}r{i:02d}")
            bakery = measure([(
                [self.bakery, "bake", "--all", folder, "--version", self.version(), "--jobs",
                 str(n), "--progress", "plain"], env)])
            packer = measure([self.packer(env, 1) for _ in range(n)])
            rows.append({"n": n, "bakery": bakery, "packer_1s": packer})
        base = rows[0]["bakery"]["seconds"] if rows and rows[0]["n"] == 1 else None
        for row in rows:
            row["bakery"]["vs_one"] = row["bakery"]["seconds"] / base if base else None
        return rows

    def world(self, env, model):
        if not self.args.world:
            return None
        n = self.args.world
        say(f"{model.spec}: rebuild the world, a base and {n} layered roles")
        folder = os.path.join(WORK, "world")
        shutil.rmtree(folder, ignore_errors=True)
        base = role_folder(folder, "world-base")
        layered = [role_folder(folder, f"world-{i:02d}", base="world-base") for i in range(n)]
        together = measure([(
            [self.bakery, "bake", "--all", folder, "--version", self.version(), "--jobs",
             str(n + 1), "--progress", "plain"], env)])
        started = time.monotonic()
        for path in [base, *layered]:
            measure([self.bakery_bake(env, path)])
        apart = time.monotonic() - started
        return {"roles": n + 1, "all": together, "one_after_another": apart,
                "ratio": together["seconds"] / apart}

    def decide(self):
        """The cost of deciding, with every transition instant: `bake --all
        --if-changed` when nothing changed, and `outdated`."""
        roles = self.args.decide
        region = "us-west-2"
        configure(region, Model("0/0").delays())
        env = dict(os.environ, AWS_REGION=region)
        say(f"the cost of deciding, {roles} roles")
        folder = os.path.join(WORK, "decide")
        shutil.rmtree(folder, ignore_errors=True)
        for i in range(roles):
            role_folder(folder, f"d{i:02d}")
        measure([([self.bakery, "bake", "--all", folder, "--version", "1.0.0", "--jobs", "16",
                   "--progress", "plain"], env)])
        rows = {}
        for name, argv in {
            "bake --all --if-changed": [self.bakery, "bake", "--all", folder, "--bump", "patch",
                                        "--if-changed", "--jobs", "16", "--progress", "plain"],
            "outdated": [self.bakery, "outdated", folder],
        }.items():
            rows[name] = measure([(argv, env)], allowed=(0, 4))
        return {"roles": roles, "commands": rows}


def say(text):
    print(f"bench: {text}", file=sys.stderr, flush=True)


GOALS = [
    ("overhead above the model's total ≤ 10 %", lambda m: m["one"]["bakery"]["overhead"] <= 0.10),
    ("wall time ≤ 0.9× Packer at a 1 s poll delay",
     lambda m: m["one"]["bakery"]["ratio_packer_1s"] <= 0.9),
    ("wall time ≤ 0.25× Packer at its default poll delay",
     lambda m: m["one"]["bakery"]["ratio_packer_default"] <= 0.25),
    ("API requests per bake ≤ Packer's at 1 s",
     lambda m: m["one"]["bakery"]["requests"] <= m["one"]["packer_1s"]["requests"]),
    ("requests per bake not growing with N",
     lambda m: all(r["bakery"]["requests"] / r["n"] <= m["one"]["bakery"]["requests"] * 1.05
                   for r in m["scale"]) if m["scale"] else None),
    ("50 bakes in one invocation ≤ 1.3× one bake",
     lambda m: next((r["bakery"]["vs_one"] <= 1.3 for r in m["scale"] if r["n"] == 50), None)),
    ("peak RSS ≤ 100 MB in all",
     lambda m: all(r["bakery"]["peak_rss_mb"] <= 100 for r in m["scale"])
     and m["one"]["bakery"]["peak_rss_mb"] <= 100),
    ("rebuild the world ≤ 0.25× one after another",
     lambda m: m["world"]["ratio"] <= 0.25 if m["world"] else None),
]


def markdown(report):
    out = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` (this file and `benchmarks.json` beside it); speed is",
        "measured here, never asserted in tests. bakery bakes `benches/recipe-noop` — no",
        "steps, no generalize, no firstboot agent — and Packer 1.6.6's amazon-ebs builder",
        "(Debian's `packer`, `communicator = \"none\"`, `benches/packer-amazon-ebs.json`)",
        "does the same work against the same emulator: launch, wait running, stop, create",
        "the image, wait available, terminate, a temporary security group. The emulator",
        "holds each transition for the latency model's time. Wall time and peak RSS per",
        "process (`wait4`); API requests from the emulator's log. One bake of each tool is",
        "measured in turn, round by round; the ratio is bakery's time over Packer's in the",
        "same round (median of the rounds). bakery keeps the durations of the transitions",
        "it saw (`BAKERY_TIMINGS`); each model starts with one unmeasured bake, as on a",
        "machine that has baked before, and the row \"first bake on the machine\" runs",
        "without them (`BAKERY_TIMINGS=none`).",
        "",
        f"Run: {report['date']}, commit {report['commit']}, {report['cpus']} cores, "
        f"{report['rounds']} rounds per model, bakery's release build.",
        "",
    ]
    for m in report["models"]:
        one = m["one"]
        b = one["bakery"]
        out += [
            f"## Model `{m['model']}`: {m['words']}",
            "",
            f"The transitions of one bake add up to {m['total']:.1f} s.",
            "",
            "| tool | wall time, median (min-max) | above the model | bakery ÷ this "
            "| best possible ÷ this | API requests per bake | peak RSS |",
            "|---|---|---|---|---|---|---|",
        ]
        names = {"bakery": "bakery", "bakery_cold": "bakery, first bake on the machine",
                 "packer_1s": "Packer, AWS_POLL_DELAY_SECONDS=1",
                 "packer_default": "Packer, default poll delay"}
        for key, name in names.items():
            t = one[key]
            packer = key.startswith("packer")
            ratio = f"{b['ratio_' + key]:.2f}×" if packer else ""
            # The transitions alone, over this tool's time: no bake that waits for each
            # transition in turn can do better.
            best = f"{m['total'] / t['median']:.2f}×" if packer else ""
            out.append(
                f"| {name} | {t['median']:.1f} s ({t['min']:.1f}-{t['max']:.1f}) "
                f"| {100 * (t['median'] / m['total'] - 1):+.0f} % | {ratio} | {best} "
                f"| {t['requests']:.0f} | {t['peak_rss_mb']:.0f} MB |")
        for key, name in (("bakery", "bakery"), ("packer_1s", "Packer at 1 s")):
            calls = one[key]["runs"][-1].get("calls", {})
            listed = ", ".join(f"{a} {c}" for a, c in sorted(calls.items(), key=lambda x: -x[1]))
            out += ["", f"{name}'s calls in the last round: {listed}."]
        if m["scale"]:
            out += [
                "",
                "At scale: N roles in one `bakery bake --all --jobs N` against N Packer "
                "processes (1 s poll delay) started at once.",
                "",
                "| N | bakery wall | ÷ one bake | requests per bake | peak RSS "
                "| Packer wall | Packer requests per bake | Packer RSS, all processes |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in m["scale"]:
                bb, p = r["bakery"], r["packer_1s"]
                vs = f"{bb['vs_one']:.2f}×" if bb["vs_one"] else ""
                out.append(
                    f"| {r['n']} | {bb['seconds']:.1f} s | {vs} | {bb['requests'] / r['n']:.1f} "
                    f"| {bb['peak_rss_mb']:.0f} MB | {p['seconds']:.1f} s "
                    f"| {p['requests'] / r['n']:.1f} | {p['rss_sum_mb']:.0f} MB |")
        if m["world"]:
            w = m["world"]
            out += [
                "",
                f"Rebuild the world: a base and {w['roles'] - 1} roles layered on it, "
                f"`bake --all` {w['all']['seconds']:.1f} s against {w['one_after_another']:.1f} s "
                f"one after another: {w['ratio']:.2f}×.",
            ]
        out += ["", "| goal | held |", "|---|---|"]
        for words, check in GOALS:
            held = check(m)
            out.append(f"| {words} | {'not measured' if held is None else 'yes' if held else 'NO'} |")
        out.append("")
    if report.get("decide"):
        d = report["decide"]
        out += [
            f"## The cost of deciding, {d['roles']} roles with a release each, nothing changed",
            "",
            "| command | wall time | API requests | per role |",
            "|---|---|---|---|",
        ]
        for name, r in d["commands"].items():
            out.append(f"| `{name}` | {r['seconds']:.1f} s | {r['requests']} "
                       f"| {r['requests'] / d['roles']:.1f} |")
        out.append("")
    if report.get("notes"):
        out += ["## Notes", "", report["notes"].rstrip(), ""]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(prog="scripts/bench")
    parser.add_argument("--rounds", type=int, default=3, help="pairs per model (default 3)")
    parser.add_argument("--models", default="aws/10,3/8,1/2",
                        help="latency models: aws/F (AWS's typical times divided by F) or "
                             "I/M (instances I s per transition, images M s); "
                             "default aws/10,3/8,1/2")
    parser.add_argument("--scale", default="1,10,25,50",
                        help="role counts for one bakery invocation (default 1,10,25,50; "
                             "empty: skip)")
    parser.add_argument("--world", type=int, default=10,
                        help="roles layered on a base for rebuild-the-world (0: skip)")
    parser.add_argument("--decide", type=int, default=50,
                        help="roles for the cost of deciding (0: skip)")
    parser.add_argument("--out", default="docs/benchmarks",
                        help="where to write .md and .json (default docs/benchmarks)")
    parser.add_argument("--notes", help="a file whose text ends the Markdown")
    parser.add_argument("--render", metavar="JSON",
                        help="only write the Markdown again from a run's JSON (and --notes)")
    parser.add_argument("bakery")
    args = parser.parse_args()
    if args.render:
        with open(args.render, encoding="utf-8") as f:
            report = json.load(f)
        if args.notes:
            with open(args.notes, encoding="utf-8") as f:
                report["notes"] = f.read()
        with open(args.out + ".md", "w", encoding="utf-8") as f:
            f.write(markdown(report))
        return
    args.scale = [int(n) for n in args.scale.split(",") if n]
    # The durations bakery learns, kept for the whole run (a fresh file each run).
    timings = os.path.join(WORK, "timings.json")
    if os.path.exists(timings):
        os.remove(timings)
    os.environ["BAKERY_TIMINGS"] = timings
    bench = Bench(args, args.bakery)
    regions = ["us-east-2", "ca-central-1", "eu-north-1", "ap-south-1"]
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "cpus": os.cpu_count(), "rounds": args.rounds,
        "models": [bench.run_model(Model(spec), region)
                   for spec, region in zip(args.models.split(","), regions)],
    }
    if args.decide:
        report["decide"] = bench.decide()
    if args.notes:
        with open(args.notes, encoding="utf-8") as f:
            report["notes"] = f.read()
    with open(args.out + ".json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    with open(args.out + ".md", "w", encoding="utf-8") as f:
        f.write(markdown(report))
    print(markdown(report))


main()
