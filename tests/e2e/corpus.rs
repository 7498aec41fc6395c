//! A corpus of bad input: flags, recipe.toml, bakery.toml, scripts, versions and AWS
//! answers. Each is refused with its exit code and a message that names what is wrong,
//! and the emulator's state — instances, images, snapshots, security groups, bakery's
//! parameters — is the same after as before.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::bakery::Bakery;
use crate::support::{recipe_folder, Account, TestRecipe, AL2023};

/// One bad input: what it is, and what the refusal must say.
struct Case {
    what: String,
    bakery: Bakery,
    code: i32,
    says: String,
    /// Refused before the release is claimed: not even a claim is made and removed.
    before_the_claim: bool,
}

impl Case {
    fn new(what: impl Into<String>, bakery: Bakery, says: impl Into<String>) -> Case {
        Case {
            what: what.into(),
            bakery,
            code: 2,
            says: says.into(),
            before_the_claim: false,
        }
    }

    fn before_the_claim(mut self) -> Case {
        self.before_the_claim = true;
        self
    }
}

/// Runs every case; collects each one that is not refused as it should be, so that
/// one run shows them all.
async fn every_case_is_refused_without_a_trace(aws: &Account, cases: Vec<Case>) -> usize {
    let mut wrong = Vec::new();
    let count = cases.len();
    let mut before = aws.footprint().await;
    for case in cases {
        let outcome = case.bakery.run();
        let after = aws.footprint().await;
        let mut problems = Vec::new();
        if outcome.code != case.code {
            problems.push(format!("exit {} (not {})", outcome.code, case.code));
        }
        if !outcome.stderr.contains(&case.says) {
            problems.push(format!("no `{}` in its stderr", case.says));
        }
        if outcome.stderr.contains("panicked") || outcome.stderr.contains("ServiceError {") {
            problems.push("a panic or a debug dump".into());
        }
        if case.before_the_claim && outcome.stderr.contains("created release claim") {
            problems.push("it claimed the release before refusing".into());
        }
        if before != after {
            problems.push(format!("it changed AWS: {before:?} -> {after:?}"));
            before = after;
        }
        if !problems.is_empty() {
            wrong.push(format!(
                "{}: {}\n--- stderr:\n{}",
                case.what,
                problems.join("; "),
                outcome.stderr
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {count} cases:\n{}",
        wrong.len(),
        wrong.join("\n\n")
    );
    count
}

/// A fresh region of `aws`'s emulator that is an opt-in region, as EC2 lists it: only
/// such a region can be one the account has not opted in to.
async fn opt_in_neighbour(aws: &Account) -> Account {
    let listed = aws
        .ec2
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .unwrap();
    let opt_in: Vec<&str> = listed
        .regions()
        .iter()
        .filter(|r| r.opt_in_status() != Some("opt-in-not-required"))
        .filter_map(|r| r.region_name())
        .collect();
    loop {
        let neighbour = aws.neighbour().await;
        if opt_in.contains(&neighbour.region.as_str()) {
            return neighbour;
        }
    }
}

/// A recipe folder whose recipe.toml is `text`, with a `steps/a.sh`.
fn recipe_text(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("steps")).unwrap();
    std::fs::write(dir.path().join("steps/a.sh"), "#!/bin/sh\necho a\n").unwrap();
    std::fs::write(dir.path().join("recipe.toml"), text).unwrap();
    dir
}

const GOOD: &str = "name = \"corpus\"\nplatform = \"linux\"\narch = \"x86_64\"\n\
    base = { ssm_parameter = \"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\" }\n\
    [builder]\ninstance_profile = \"bakery-builder\"\n";
const STEP: &str = "[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\n";

fn bake(aws: &Account, recipe: &Path) -> Bakery {
    aws.bakery().bake(recipe, "1.0.0")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_flags_are_refused_before_anything_is_made() {
    let aws = Account::fresh().await;
    // A region the bake does not run in.
    let other = aws.neighbour().await;
    let recipe = TestRecipe::new("corpus").step("a", "#!/bin/sh\necho a\n");
    let folder = recipe_folder(&[("corpus", AL2023)]);
    let r = recipe.path();
    let with = |args: &[&str]| aws.bakery().args(["bake"]).arg_path(r).args(args);
    let long = "a".repeat(300);
    let cases = vec![
        Case::new(
            "a tag name for a version",
            with(&["--version", "v1.0.0"]),
            "has no `v` prefix",
        ),
        Case::new(
            "two parts of a version",
            with(&["--version", "1.0"]),
            "invalid --version `1.0`",
        ),
        Case::new(
            "build metadata",
            with(&["--version", "1.0.0+7"]),
            "build metadata",
        ),
        Case::new(
            "an empty version",
            with(&["--version", ""]),
            "invalid --version ``",
        ),
        Case::new(
            "a pre-release that makes the image name too long",
            with(&["--version", &format!("1.0.0-{}", "r".repeat(120))]),
            "characters; AWS takes at most 128",
        ),
        Case::new(
            "a pre-release name that makes the bumped image name too long",
            with(&["--bump", "minor", "--pre", &"p".repeat(100)]),
            "characters; AWS takes at most 128",
        ),
        Case::new(
            "a dry run of a name too long",
            with(&[
                "--version",
                &format!("1.0.0-{}", "r".repeat(120)),
                "--dry-run",
            ]),
            "characters; AWS takes at most 128",
        ),
        Case::new(
            "a word for a version",
            with(&["--version", "latest"]),
            "invalid --version `latest`",
        ),
        Case::new(
            "a version and a bump",
            with(&["--version", "1.0.0", "--bump", "minor"]),
            "cannot be used with",
        ),
        Case::new(
            "an unknown bump",
            with(&["--bump", "huge"]),
            "invalid value 'huge'",
        ),
        Case::new(
            "`outdated` with an age in words",
            aws.bakery()
                .args(["outdated", "--max-age", "soon"])
                .arg_path(folder.path()),
            "--max-age: invalid duration `soon`",
        ),
        Case::new(
            "`outdated` of a folder that is not there",
            aws.bakery().args(["outdated", "/nonexistent/recipes"]),
            "recipes folder /nonexistent/recipes: cannot list it",
        ),
        Case::new(
            "a pre-release name with a space",
            with(&["--bump", "minor", "--pre", "rc 1"]),
            "--pre",
        ),
        Case::new(
            "--pre without --bump",
            with(&["--version", "1.0.0", "--pre", "rc"]),
            "--bump",
        ),
        Case::new(
            "no version at all",
            aws.bakery().args(["bake"]).arg_path(r),
            "--version",
        ),
        Case::new(
            "--jobs 0",
            aws.bakery()
                .args(["bake", "--all", "--version", "1.0.0", "--jobs", "0"])
                .arg_path(folder.path()),
            "0 is not in 1..=64",
        ),
        Case::new(
            "--jobs 65",
            aws.bakery()
                .args(["bake", "--all", "--version", "1.0.0", "--jobs", "65"])
                .arg_path(folder.path()),
            "65 is not in 1..=64",
        ),
        Case::new(
            "--jobs without --all",
            with(&["--version", "1.0.0", "--only", "x"]),
            "--all",
        ),
        Case::new(
            "a commit over 256 characters",
            with(&["--version", "1.0.0", "--source-commit", &long]),
            "--source-commit (or GIT_COMMIT): tag values are at most 256",
        ),
        Case::new(
            "a build URL with a line break",
            with(&["--version", "1.0.0", "--build-url", "https://ci/1\nx"]),
            "--build-url (or BUILD_URL)",
        ),
        Case::new(
            "a command for an instance type",
            with(&[
                "--version",
                "1.0.0",
                "--instance-type",
                "t3.small; rm -rf /",
            ]),
            "builder.instance_type (from flag --instance-type)",
        ),
        Case::new(
            "an empty instance type",
            with(&["--version", "1.0.0", "--instance-type", ""]),
            "is not an instance type",
        ),
        Case::new(
            "an instance type in capitals",
            with(&["--version", "1.0.0", "--instance-type", "T3.SMALL"]),
            "is not an instance type",
        ),
        Case::new(
            "a subnet name",
            with(&["--version", "1.0.0", "--subnet", "private-a"]),
            "builder.subnet (from flag --subnet)",
        ),
        Case::new(
            "a subnet id of the wrong length",
            with(&["--version", "1.0.0", "--subnet", "subnet-123"]),
            "is not a valid subnet- id",
        ),
        Case::new(
            "a security group name",
            with(&["--version", "1.0.0", "--security-group", "builders"]),
            "builder.security_groups (from flag --security-group)",
        ),
        Case::new(
            "an instance profile with a space",
            with(&["--version", "1.0.0", "--instance-profile", "bakery builder"]),
            "is not an instance profile",
        ),
        Case::new(
            "a KMS key without its region",
            with(&["--version", "1.0.0", "--kms-key", "alias/ebs"]),
            "--kms-key `alias/ebs`: write REGION=KEY",
        ),
        Case::new(
            "a KMS key without a key",
            with(&[
                "--version",
                "1.0.0",
                "--kms-key",
                &format!("{}=", aws.region),
            ]),
            format!("--kms-key `{}=`", aws.region),
        ),
        Case::new(
            "a KMS key that is no key",
            with(&[
                "--version",
                "1.0.0",
                "--kms-key",
                &format!("{}=ebs", aws.region),
            ]),
            format!(
                "kms_keys.{} (from flag --kms-key): `ebs` is not a KMS key",
                aws.region
            ),
        ),
        Case::new(
            "a KMS key for a region not baked in",
            with(&[
                "--version",
                "1.0.0",
                "--kms-key",
                &format!("{}=alias/ebs", other.region),
            ]),
            format!("kms_keys.{} (from flag --kms-key)", other.region),
        ),
        Case::new(
            "a copy to no region",
            with(&["--version", "1.0.0", "--copy-to", "mars"]),
            "`mars` is not a region name",
        ),
        Case::new(
            "a copy to a region that is not one",
            with(&["--version", "1.0.0", "--copy-to", "mars-north-9"]),
            "`mars-north-9` is not a region of this account's partition",
        ),
        Case::new(
            "a copy to the build region",
            with(&["--version", "1.0.0", "--copy-to", &aws.region]),
            format!("--copy-to names {}, where the bake runs", aws.region),
        ),
        Case::new(
            "a copy region twice",
            with(&[
                "--version",
                "1.0.0",
                "--copy-to",
                &format!("{0},{0}", other.region),
            ]),
            format!("{} is named twice", other.region),
        ),
        Case::new(
            "a topic that is no ARN",
            with(&["--version", "1.0.0", "--sns-topic", "alerts"]),
            "sns_topic (from flag --sns-topic)",
        ),
        Case::new(
            "a channel with a space",
            with(&["--version", "1.0.0", "--promote", "Prod Env"]),
            "Prod Env",
        ),
        Case::new(
            "a base of no known form",
            with(&["--version", "1.0.0", "--base", "debian"]),
            "--base `debian`",
        ),
        Case::new(
            "a base image id of the wrong form",
            with(&["--version", "1.0.0", "--base", "ami-xyz"]),
            "is not a valid ami- id",
        ),
        Case::new(
            "a base role without its channel",
            with(&["--version", "1.0.0", "--base", "base@"]),
            "--base `base@`",
        ),
        Case::new(
            "a base that is the role itself",
            with(&["--version", "1.0.0", "--base", "corpus@stable"]),
            "cannot be layered on itself",
        ),
        Case::new(
            "a region that is no region name",
            with(&["--version", "1.0.0", "--region", "mars-1"]),
            "`mars-1` is not a region name",
        ),
        Case::new(
            "a region that does not exist",
            with(&["--version", "1.0.0", "--region", "mars-north-9"]),
            "mars-north-9",
        ),
        Case::new(
            "a variable without a value",
            with(&["--version", "1.0.0", "--var", "APP"]),
            "--var `APP`: write NAME=VALUE",
        ),
        Case::new(
            "a variable the recipe lacks",
            with(&["--version", "1.0.0", "--var", "APP=1"]),
            "--var APP: ",
        ),
        Case::new(
            "a manifest in a missing folder",
            with(&["--version", "1.0.0", "--manifest", "/nonexistent/m.json"]),
            "--manifest /nonexistent/m.json",
        ),
        Case::new(
            "manifest data bakery writes",
            with(&[
                "--version",
                "1.0.0",
                "--manifest",
                "/tmp/corpus-m.json",
                "--manifest-data",
                "status=ok",
            ]),
            "--manifest-data `status`",
        ),
        Case::new(
            "manifest data without a manifest",
            with(&["--version", "1.0.0", "--manifest-data", "a=b"]),
            "--manifest",
        ),
        Case::new(
            "--only naming no role",
            aws.bakery()
                .args(["bake", "--all", "--version", "1.0.0", "--only", "kafka"])
                .arg_path(folder.path()),
            "--only kafka: no recipe in",
        ),
        Case::new(
            "--only and --except",
            aws.bakery()
                .args([
                    "bake",
                    "--all",
                    "--version",
                    "1.0.0",
                    "--only",
                    "a",
                    "--except",
                    "b",
                ])
                .arg_path(folder.path()),
            "cannot be used with",
        ),
        Case::new(
            "--all on a folder without recipes",
            aws.bakery()
                .args(["bake", "--all", "--version", "1.0.0"])
                .arg_path(recipe.path().join("steps").as_path()),
            "no folder with a recipe.toml",
        ),
        Case::new(
            "a recipe folder that is not there",
            aws.bakery()
                .args(["bake", "--version", "1.0.0", "/nonexistent/recipe"]),
            "recipe folder `/nonexistent/recipe` not found",
        ),
        Case::new(
            "an unknown --progress",
            with(&["--version", "1.0.0", "--progress", "fancy"]),
            "invalid value 'fancy'",
        ),
        Case::new(
            "an unknown --output",
            with(&["--version", "1.0.0", "--output", "yaml"]),
            "invalid value 'yaml'",
        ),
        Case::new(
            "an environment without bakery.toml",
            with(&["--version", "1.0.0", "--env", "production"]),
            "--env production: no bakery.toml",
        ),
        Case::new(
            "a --config that is not there",
            with(&["--version", "1.0.0", "--config", "/nonexistent/bakery.toml"]),
            "--config /nonexistent/bakery.toml: no such file",
        ),
        Case::new(
            "an empty endpoint",
            with(&["--version", "1.0.0"]).env("AWS_ENDPOINT_URL_EC2", ""),
            "AWS_ENDPOINT_URL_EC2 is set but empty",
        ),
    ];
    let count = every_case_is_refused_without_a_trace(&aws, cases).await;
    assert!(count >= 50, "{count}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_recipes_are_refused_at_their_line() {
    let aws = Account::fresh().await;
    let replace = |from: &str, to: &str| GOOD.replace(from, to) + STEP;
    let add = |extra: &str| format!("{GOOD}{STEP}{extra}");
    let texts: Vec<(&str, String, &str)> = vec![
        ("a role name with capitals", replace("\"corpus\"", "\"Corpus\""), "invalid role name"),
        ("no platform", replace("platform = \"linux\"\n", ""), "missing field `platform`"),
        ("an unknown platform", replace("\"linux\"", "\"bsd\""), "`linux`"),
        ("an unknown arch", replace("\"x86_64\"", "\"amd64\""), "`x86_64`"),
        ("no base", GOOD.lines().filter(|l| !l.starts_with("base")).collect::<Vec<_>>().join("\n") + "\n" + STEP, "missing field `base`"),
        ("a base with two sources", replace("base = {", "base = { image = \"ami-12345678\","), "give exactly one of"),
        ("a base image that is no AMI id", replace("base = {", "base = { image = \"debian\" } #"), "is not a valid ami- id"),
        ("a base parameter that is no path", replace("\"/aws/service", "\"aws/service"), "starts with `/`"),
        ("a base that is the role itself", replace("base = {", "base = { role = \"corpus\", channel = \"stable\" } #"), "cannot be layered on itself"),
        ("a base channel with a space", replace("base = {", "base = { role = \"base\", channel = \"a b\" } #"), "invalid channel"),
        ("a base version that is no requirement", replace("base = {", "base = { role = \"base\", version = \"two\" } #"), "is not a version requirement"),
        ("an unknown key", add("colour = \"blue\"\n"), "unknown field `colour`"),
        ("TOML that does not parse", add("name = \n"), "string values must be quoted"),
        ("an unknown builder key", GOOD.replace("[builder]\n", "[builder]\nami = \"x\"\n") + STEP, "unknown field `ami`"),
        ("a volume of 0 GiB", GOOD.replace("[builder]\n", "[builder]\nvolume_size = 0\n") + STEP, "give GiB from 1 to 16384"),
        ("a volume of 20 TiB", GOOD.replace("[builder]\n", "[builder]\nvolume_size = 20000\n") + STEP, "give GiB from 1 to 16384"),
        ("an unknown volume type", GOOD.replace("[builder]\n", "[builder]\nvolume_type = \"gp9\"\n") + STEP, "`gp3`"),
        ("an io1 volume without its IOPS", GOOD.replace("[builder]\n", "[builder]\nvolume_type = \"io1\"\n") + STEP, "io1 needs `volume_iops` (100 to 64000)"),
        ("IOPS on a gp2 volume", GOOD.replace("[builder]\n", "[builder]\nvolume_type = \"gp2\"\nvolume_iops = 3000\n") + STEP, "gp2 volumes take no volume_iops"),
        ("gp3 throughput past its range", GOOD.replace("[builder]\n", "[builder]\nvolume_throughput = 2000\n") + STEP, "2000 is out of range for gp3: give 125 to 1000"),
        ("an instance type with a space", GOOD.replace("[builder]\n", "[builder]\ninstance_type = \"t3 small\"\n") + STEP, "key `builder.instance_type`"),
        ("a subnet name", GOOD.replace("[builder]\n", "[builder]\nsubnet = \"private\"\n") + STEP, "key `builder.subnet`"),
        ("a security group name", GOOD.replace("[builder]\n", "[builder]\nsecurity_groups = [\"web\"]\n") + STEP, "key `builder.security_groups`"),
        ("an instance profile ARN of nothing", replace("\"bakery-builder\"", "\"arn:aws:iam::1:role/x\""), "key `builder.instance_profile`"),
        ("an empty KMS key", GOOD.replace("[builder]\n", "[builder]\nkms_key = \"\"\n") + STEP, "key `builder.kms_key`"),
        ("a hop limit of 0", GOOD.replace("[builder]\n", "[builder]\nmetadata_hop_limit = 0\n") + STEP, "give 1 to 64"),
        ("a hop limit of 65", GOOD.replace("[builder]\n", "[builder]\nmetadata_hop_limit = 65\n") + STEP, "give 1 to 64"),
        ("a public address of maybe", GOOD.replace("[builder]\n", "[builder]\npublic_address = \"maybe\"\n") + STEP, "`never`"),
        ("a step name with capitals", add("[[steps]]\nname = \"B\"\nscript = \"steps/a.sh\"\n"), "invalid step name `B`"),
        ("a step twice", add(STEP), "step `a` appears twice"),
        ("a step script that is not there", add("[[steps]]\nname = \"b\"\nscript = \"steps/b.sh\"\n"), "cannot read"),
        ("a step script above the folder", add("[[steps]]\nname = \"b\"\nscript = \"../b.sh\"\n"), "must be a path inside the recipe folder"),
        ("a step script by absolute path", add("[[steps]]\nname = \"b\"\nscript = \"/etc/passwd\"\n"), "must be a path inside the recipe folder"),
        ("a step timeout in words", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\ntimeout = \"soon\"\n"), "invalid duration `soon`"),
        ("a step timeout over 48 hours", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\ntimeout = \"49h\"\n"), "SSM Run Command stops any command after 48 hours"),
        ("a step timeout of 274 years", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\ntimeout = \"100000d\"\n"), "longer than bakery takes anywhere"),
        ("timeouts adding up to over a week", (0..5).map(|i| format!("[[steps]]\nname = \"s{i}\"\nscript = \"steps/a.sh\"\ntimeout = \"48h\"\n")).fold(GOOD.to_string(), |t, s| t + &s), "bakery lets a builder live 7 days at most"),
        ("an env name with a dash", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\nenv = { \"A-B\" = \"1\" }\n"), "invalid environment variable name `A-B`"),
        ("an env name of bakery's", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\nenv = { BAKERY_ROLE = \"x\" }\n"), "`BAKERY_ROLE` is reserved"),
        ("a secret that is no parameter name", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\nsecrets = { PW = \"a b\" }\n"), "is not an SSM parameter name"),
        ("a secret in AWS's namespace", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\nsecrets = { PW = \"/aws/x\" }\n"), "is not an SSM parameter name"),
        ("a name in env and secrets", add("[[steps]]\nname = \"b\"\nscript = \"steps/a.sh\"\nenv = { PW = \"x\" }\nsecrets = { PW = \"/pw\" }\n"), "PW is also in `env`"),
        ("a test name with capitals", add("[[tests]]\nname = \"Smoke\"\nscript = \"steps/a.sh\"\n"), "invalid test name `Smoke`"),
        ("a test twice", add("[[tests]]\nname = \"t\"\nscript = \"steps/a.sh\"\n[[tests]]\nname = \"t\"\nscript = \"steps/a.sh\"\n"), "test `t` appears twice"),
        ("a test script that is not there", add("[[tests]]\nname = \"t\"\nscript = \"tests/t.sh\"\n"), "key `tests.script`: cannot read"),
        ("a test script above the folder", add("[[tests]]\nname = \"t\"\nscript = \"../t.sh\"\n"), "key `tests.script`"),
        ("a test timeout over 48 hours", add("[[tests]]\nname = \"t\"\nscript = \"steps/a.sh\"\ntimeout = \"49h\"\n"), "SSM Run Command stops any command after 48 hours"),
        ("a test stage of two days", add("[test]\ntimeout = \"2d\"\n"), "a test instance lives at most a day"),
        ("a test runlist that is no S3 URI", add("[test]\nrunlist = \"https://runlists/x.json\"\n"), "key `test.runlist`"),
        ("a test instance type with a space", add("[test]\ninstance_type = \"t3 small\"\n"), "key `test.instance_type`"),
        ("a test tag in AWS's namespace", add("[test]\ntags = { \"aws:x\" = \"1\" }\n"), "key `test.tags.aws:x`"),
        ("an unknown test key", add("[test]\nami = \"x\"\n"), "unknown field `ami`"),
        ("a deprecation 11 years ahead", GOOD.replace("[builder]", "deprecate_after = \"4000d\"\n[builder]") + STEP, "at most 10 years ahead"),
        ("a deprecation in words", GOOD.replace("[builder]", "deprecate_after = \"never\"\n[builder]") + STEP, "invalid duration `never`"),
        ("a reserved tag", add("[tags]\n\"bakery:role\" = \"x\"\n"), "reserved"),
        ("a tag value over 256 characters", add(&format!("[tags]\nteam = \"{}\"\n", "x".repeat(300))), "tag values are at most 256 characters"),
        ("a tag value with a line break", add("[tags]\nteam = \"a\\nb\"\n"), "line breaks"),
        ("a runlist that is no S3 URI", add("[firstboot]\nrunlist = \"https://x/y\"\nrunner = \"r {runlist}\"\n"), "is not an S3 URI"),
        ("a runlist without a runner", add("[firstboot]\nrunlist = \"s3://b/k\"\n"), "a runlist needs a `runner`"),
        ("an empty runner", add("[firstboot]\nrunner = \" \"\n"), "the runner is a command"),
        ("no fetch attempts", add("[firstboot]\nfetch_attempts = 0\n"), "give 1 to 20"),
        ("a fetch timeout of two days", add("[firstboot]\nfetch_timeout = \"2d\"\n"), "longer than 1 day"),
        ("a first-boot topic that is no ARN", add("[firstboot]\nsns_topic = \"alerts\"\n"), "is not an SNS topic ARN"),
        ("firstboot = yes", GOOD.replace("[builder]", "firstboot = \"yes\"\n[builder]") + STEP, "`firstboot = false`, or a [firstboot] table"),
        ("a variable with neither default nor required", add("[vars.A]\ndescription = \"x\"\n"), "give a `default`, or `required = true`"),
        ("a variable with both", add("[vars.A]\ndefault = \"x\"\nrequired = true\n"), "not both"),
        ("a variable pattern that does not compile", add("[vars.A]\ndefault = \"x\"\npattern = '('\n"), "is not a regular expression"),
        ("a default that breaks its pattern", add("[vars.A]\ndefault = \"x\"\npattern = '\\d+'\n"), "its default `x` does not match"),
        ("a variable of bakery's", add("[vars]\nBAKERY_VERSION = \"1\"\n"), "`BAKERY_VERSION` is reserved"),
        ("a variable also in a step's env", add("[vars]\nA = \"1\"\n").replace(STEP, "[[steps]]\nname = \"a\"\nscript = \"steps/a.sh\"\nenv = { A = \"2\" }\n"), "A is a variable of the recipe"),
        ("a required variable nobody gives", add("[vars.APP]\nrequired = true\n"), "variable APP is required"),
    ];
    let mut dirs = Vec::new();
    let mut cases = Vec::new();
    for (what, text, says) in texts {
        let dir = recipe_text(&text);
        cases.push(Case::new(what, bake(&aws, dir.path()), says));
        dirs.push(dir);
    }
    // Files the recipe names, and files that lead out of the folder.
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "host secret").unwrap();
    let linked = recipe_text(&format!("{GOOD}{STEP}"));
    std::fs::remove_file(linked.path().join("steps/a.sh")).unwrap();
    std::os::unix::fs::symlink(secret.path(), linked.path().join("steps/a.sh")).unwrap();
    cases.push(Case::new(
        "a step script linking out of the folder",
        bake(&aws, linked.path()),
        "`steps/a.sh` leads to",
    ));
    let stray = recipe_text(&format!("{GOOD}{STEP}"));
    std::fs::create_dir(stray.path().join("files")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", stray.path().join("files/passwd")).unwrap();
    cases.push(Case::new(
        "a file linking out of the folder",
        bake(&aws, stray.path()),
        "`files/passwd` leads to /etc/passwd",
    ));
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        elsewhere.path().join("recipe.toml"),
        format!("{GOOD}{STEP}"),
    )
    .unwrap();
    let linked_recipe = recipe_text("");
    std::fs::remove_file(linked_recipe.path().join("recipe.toml")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("recipe.toml"),
        linked_recipe.path().join("recipe.toml"),
    )
    .unwrap();
    cases.push(Case::new(
        "a recipe.toml linking out of the folder",
        bake(&aws, linked_recipe.path()),
        "outside the recipe folder",
    ));
    let big = recipe_text(&format!("{GOOD}{STEP}"));
    std::fs::write(
        big.path().join("steps/a.sh"),
        format!("#!/bin/sh\n# {}\n", "x".repeat(70 * 1024)),
    )
    .unwrap();
    cases.push(Case::new(
        "a step script of 70 KiB",
        bake(&aws, big.path()),
        "step `recipe/a`: its Run Command would be",
    ));
    let validate = recipe_text(&format!("{GOOD}{STEP}"));
    std::fs::create_dir(validate.path().join("files")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", validate.path().join("files/host")).unwrap();
    cases.push(Case::new(
        "validate: a file linking out of the folder",
        aws.bakery().args(["validate"]).arg_path(validate.path()),
        "`files/host` leads to",
    ));
    let count = every_case_is_refused_without_a_trace(&aws, cases).await;
    assert!(count >= 60, "{count}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_environments_are_refused_at_their_line() {
    let aws = Account::fresh().await;
    let other = aws.neighbour().await;
    let recipe = TestRecipe::new("corpus").step("a", "#!/bin/sh\necho a\n");
    // `{region}` is the bake's region; `{other}` one it does not bake in.
    let here = |text: &str| {
        text.replace("{region}", &aws.region)
            .replace("{other}", &other.region)
    };
    let environments: Vec<(&str, &str, &str)> = vec![
        (
            "an unknown key",
            "colour = \"blue\"",
            "unknown field `colour`",
        ),
        ("no regions", "regions = []", "regions (from environment ci"),
        (
            "a region twice",
            "regions = [\"{region}\", \"{region}\"]",
            "{region} is named twice",
        ),
        (
            "a region that is no region name",
            "regions = [\"Frankfurt\"]",
            "`Frankfurt` is not a region name",
        ),
        (
            "a copy region that does not exist",
            "regions = [\"{region}\", \"mars-north-9\"]",
            "`mars-north-9` is not a region of this account's partition",
        ),
        (
            "a KMS key that is no key",
            "kms_keys = { {region} = \"ebs\" }",
            "kms_keys.{region} (from environment ci",
        ),
        (
            "a KMS key for a region not baked in",
            "kms_keys = { {other} = \"alias/ebs\" }",
            "{other} is not one of the regions",
        ),
        (
            "a topic that is no ARN",
            "sns_topic = \"alerts\"",
            "sns_topic (from environment ci",
        ),
        (
            "an account id of 11 digits",
            "share = { accounts = [\"12345678901\"] }",
            "is not an AWS account id",
        ),
        (
            "an organization that is no ARN",
            "share = { organizations = [\"o-abc\"] }",
            "is not an organization ARN",
        ),
        (
            "an OU that is no ARN",
            "share = { organizational_units = [\"ou-abc\"] }",
            "is not an OU ARN",
        ),
        (
            "a bucket in capitals",
            "step_output = { s3_bucket = \"Logs\" }",
            "is not a bucket name",
        ),
        (
            "a log group with a space",
            "step_output = { cloudwatch_log_group = \"a b\" }",
            "is not a log group name",
        ),
        ("a reserved tag", "tags = { \"aws:x\" = \"1\" }", "reserved"),
        (
            "a variable name with a dash",
            "vars = { \"A-B\" = \"1\" }",
            "vars.A-B",
        ),
        (
            "a subnet name",
            "subnet = \"private\"",
            "builder.subnet (from environment ci",
        ),
        (
            "a security group name",
            "security_groups = [\"web\"]",
            "builder.security_groups (from environment ci",
        ),
        (
            "an instance type with a space",
            "instance_type = \"t3 small\"",
            "builder.instance_type (from environment ci",
        ),
        (
            "a public address of maybe",
            "public_address = \"maybe\"",
            "`never`",
        ),
        (
            "an instance profile with a space",
            "instance_profile = \"a b\"",
            "builder.instance_profile (from environment ci",
        ),
        ("TOML that does not parse", "regions = [", "bakery.toml"),
        (
            "an unknown parent",
            "extends = \"base\"",
            "no environment `base` to extend",
        ),
    ];
    let mut tops = Vec::new();
    let mut cases = Vec::new();
    for (what, line, says) in environments {
        let top = tempfile::tempdir().unwrap();
        std::fs::write(
            top.path().join("bakery.toml"),
            format!("[environments.ci]\n{}\n", here(line)),
        )
        .unwrap();
        let bakery = bake(&aws, recipe.path())
            .current_dir(top.path())
            .args(["--env", "ci"]);
        cases.push(Case::new(what, bakery, here(says)));
        tops.push(top);
    }
    for (what, text, says) in [
        (
            "a default environment that is not there",
            "default_environment = \"prod\"\n[environments.ci]\n",
            "no environment `prod` in this file",
        ),
        (
            "environments extending each other",
            "[environments.a]\nextends = \"b\"\n[environments.b]\nextends = \"a\"\n",
            "extend each other in a circle",
        ),
    ] {
        let top = tempfile::tempdir().unwrap();
        std::fs::write(top.path().join("bakery.toml"), text).unwrap();
        let env = if text.contains("default_environment") {
            vec![]
        } else {
            vec!["--env", "a"]
        };
        let bakery = bake(&aws, recipe.path()).current_dir(top.path()).args(env);
        cases.push(Case::new(what, bakery, says));
        tops.push(top);
    }
    let top = tempfile::tempdir().unwrap();
    std::fs::write(top.path().join("bakery.toml"), "[environments.ci]\n").unwrap();
    cases.push(Case::new(
        "an environment the file lacks",
        bake(&aws, recipe.path())
            .current_dir(top.path())
            .args(["--env", "prod"]),
        "has no [environments.prod]",
    ));
    tops.push(top);
    let count = every_case_is_refused_without_a_trace(&aws, cases).await;
    assert!(count >= 25, "{count}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_aws_refuses_is_named_and_cleaned_up() {
    let aws = Account::fresh().await;
    let recipe = TestRecipe::new("answers").step("a", "#!/bin/sh\necho a\n");
    let on = |base: &str| {
        TestRecipe::new("answers")
            .with_base(base)
            .step("a", "#!/bin/sh\necho a\n")
    };
    let missing_image = on("image = \"ami-0123456789abcdef0\"");
    let missing_parameter = on("ssm_parameter = \"/company/base/latest\"");
    let missing_channel = on("role = \"base\", channel = \"stable\"");
    let missing_release = on("role = \"base\", version = \"^9\"");
    let gated = TestRecipe::new("answers")
        .step("a", "#!/bin/sh\necho a\n")
        .test("t", "#!/bin/sh\ntrue\n");
    let huge_test = TestRecipe::new("answers")
        .step("a", "#!/bin/sh\necho a\n")
        .test("t", "#!/bin/sh\ntrue\n")
        .with_toml("[test]\ninstance_type = \"t3.huge\"\n");
    let secret = TestRecipe::new("answers")
        .step("a", "#!/bin/sh\necho a\n")
        .with_toml("secrets = { PW = \"/answers/missing\" }\n");
    let no_profile_never = TestRecipe::new("answers")
        .with_toml("public_address = \"never\"\n")
        .step("a", "#!/bin/sh\necho a\n");
    // Takes connections and never answers: a proxy or endpoint that hangs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let opted_out = opt_in_neighbour(&aws).await;
    opted_out.emulate(json!({ "opted_in": false }));
    aws.bake_ok(recipe.path(), &["--version", "1.0.0"]);
    let next = |recipe: &TestRecipe| aws.bakery().bake(recipe.path(), "1.0.1");
    let cases = vec![
        Case::new(
            "a base image that is not there",
            next(&missing_image),
            format!(
                "base image ami-0123456789abcdef0 not found in {}",
                aws.region
            ),
        ),
        Case::new(
            "a base parameter that is not there",
            next(&missing_parameter),
            "SSM parameter /company/base/latest",
        ),
        Case::new(
            "a base channel that is not there",
            next(&missing_channel),
            format!("channel stable of base does not exist in {}", aws.region),
        ),
        Case::new(
            "no release of the base matches",
            next(&missing_release),
            "no available x86_64 release of base matches ^9",
        ),
        Case::new(
            "a secret that is not there",
            next(&secret),
            "/answers/missing",
        ),
        Case::new(
            "a builder that could not reach SSM",
            next(&no_profile_never),
            "could not reach SSM",
        )
        .before_the_claim(),
        Case::new(
            "a version that exists",
            bake(&aws, recipe.path()),
            "answers@1.0.0 already exists",
        ),
        Case::new(
            "an instance type EC2 does not have",
            next(&recipe).args(["--instance-type", "m9.large"]),
            "builder.instance_type: EC2 has no instance type m9.large",
        )
        .before_the_claim(),
        Case::new(
            "a test instance type EC2 does not have",
            next(&huge_test),
            "[test] instance_type: EC2 has no instance type t3.huge",
        )
        .before_the_claim(),
        Case::new(
            "a security group that does not exist",
            next(&recipe).args(["--security-group", "sg-0123456789abcdef0"]),
            format!(
                "builder.security_groups: sg-0123456789abcdef0 does not exist in {}",
                aws.region
            ),
        )
        .before_the_claim(),
        Case::new(
            "a region the account has not opted in to",
            aws.bakery()
                .bake(recipe.path(), "1.0.1")
                .args(["--copy-to", &opted_out.region]),
            format!(
                "region `{}` is not enabled for this account",
                opted_out.region
            ),
        ),
        Case::new(
            "no credentials",
            aws.bakery()
                .bake(recipe.path(), "1.0.1")
                .env("AWS_ACCESS_KEY_ID", "")
                .env("AWS_SECRET_ACCESS_KEY", "")
                .env("AWS_PROFILE", "nobody")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                .env("AWS_CONFIG_FILE", "/nonexistent"),
            format!("no AWS credentials to reach EC2 in region `{}`", aws.region),
        ),
        Case::new(
            "an endpoint that refuses connections",
            aws.bakery()
                .bake(recipe.path(), "1.0.1")
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            format!("cannot reach EC2 in region `{}`", aws.region),
        ),
        Case::new(
            "an endpoint that never answers",
            aws.bakery()
                .bake(recipe.path(), "1.0.1")
                .env("AWS_ENDPOINT_URL", &silent),
            format!("cannot reach EC2 in region `{}`", aws.region),
        ),
        Case::new(
            "`bakery test` of a recipe without tests",
            aws.bakery()
                .args(["test"])
                .arg_path(recipe.path())
                .args(["1.0.0"]),
            "has no release gate",
        ),
        Case::new(
            "`bakery test` of a release that does not exist",
            aws.bakery()
                .args(["test"])
                .arg_path(gated.path())
                .args(["7.0.0"]),
            format!("answers@7.0.0 has no release record in {}", aws.region),
        ),
        Case::new(
            "`bakery test` without a version",
            aws.bakery()
                .args(["test"])
                .arg_path(gated.path())
                .args(["latest"]),
            "invalid version `latest`",
        ),
        Case::new(
            "`bakery test` of a role that has no recipe here",
            aws.bakery().args(["test", "no-such-role", "1.0.0"]),
            "recipe folder `no-such-role` not found",
        ),
        Case::new(
            "a bake without a version names both ways to give one",
            aws.bakery().args(["bake"]).arg_path(recipe.path()),
            "<--version <VERSION>|--bump <BUMP>>",
        ),
        Case::new(
            "a manifest path that is a folder",
            aws.bakery()
                .bake(recipe.path(), "1.0.1")
                .args(["--manifest", "/tmp"]),
            "--manifest /tmp: is a folder; --manifest names the file bakery writes",
        ),
        Case::new(
            "the releases of a role that has none",
            aws.bakery().args(["releases", "bse"]),
            format!("bse has no release in {}", aws.region),
        ),
    ];
    aws.emulate(
        json!({ "faults": [{ "action": "RunInstances", "times": 1, "status": 400,
        "code": "InvalidParameterValue", "message": "Invalid instance type z9.mega" }] }),
    );
    let count = every_case_is_refused_without_a_trace(&aws, cases).await;
    assert!(count >= 10, "{count}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipe_folder_with_a_fifo_or_a_huge_file_is_read_safely() {
    let aws = Account::fresh().await;
    let folder = recipe_text(&format!("{GOOD}{STEP}"));
    let before = aws.footprint().await;

    // A FIFO: refused by name at once (reading it would wait for a writer forever).
    let fifo = folder.path().join("notes.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for command in [
        &["validate"][..],
        &["plan", "--version", "1.0.0"],
        &["bake", "--version", "1.0.0"],
    ] {
        let outcome = aws
            .bakery()
            .args(command)
            .arg_path(folder.path())
            .through(&["timeout", "60"])
            .run();
        assert_eq!(outcome.code, 2, "{command:?}: {}", outcome.stderr);
        outcome.expect_stderr("`notes.fifo` is a FIFO (named pipe)");
    }
    std::fs::remove_file(&fifo).unwrap();
    assert_eq!(aws.footprint().await, before, "nothing created");

    // A 2 GiB file (sparse): digested in pieces, within 64 MB of memory.
    let big = std::fs::File::create(folder.path().join("artifact.bin")).unwrap();
    big.set_len(2 << 30).unwrap();
    let planned = aws
        .bakery()
        .args(["plan", "--version", "1.0.0"])
        .arg_path(folder.path())
        .through(&["/usr/bin/time", "-f", "max-rss-kb=%M", "timeout", "120"])
        .run();
    planned.expect_code(0);
    let rss: u64 = planned
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("max-rss-kb="))
        .and_then(|kb| kb.trim().parse().ok())
        .expect("GNU time's report");
    assert!(rss < 64 * 1024, "{rss} kB for a 2 GiB file");
}
