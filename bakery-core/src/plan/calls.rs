//! The AWS calls of each step, for review before any is made (`bakery plan`): derived
//! from the plan's chain, so the list is the bake's own.

use super::{BakePlan, BuildPlan};
use crate::config::{BaseImage, Destination};
use crate::model::release::{channels_path, claims_path};
use crate::model::{Step, VersionRequest};

impl BakePlan {
    /// The AWS calls the bake makes, in order; an architecture's own, once per
    /// architecture when there are several (`… [arm64]`).
    pub fn aws_calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = Vec::new();
        for step in &self.chain {
            if self.makes_several() && step.is_per_architecture() {
                for build in &self.builds {
                    let arch = build.arch();
                    calls.extend(
                        self.calls_of(build, step)
                            .into_iter()
                            .map(|c| format!("{c} [{arch}]")),
                    );
                }
            } else {
                calls.extend(self.calls_of(&self.builds[0], step));
            }
        }
        if let (Some(topic), true) = (&self.sns_topic, self.notify_success) {
            calls.push(format!("sns:Publish {topic} (--notify-success)"));
        }
        calls
    }

    /// The calls of a bake that fails or is interrupted: its cleanup, then the alert.
    pub fn aws_calls_on_failure(&self) -> Vec<String> {
        let mut calls = vec![
            "ssm:CancelCommand (a command that outlived its timeout; an interrupted one ends with its instance)".to_string(),
            "ec2:TerminateInstances, ec2:DescribeInstances (builder and test instance, until \
             terminated)"
                .to_string(),
            "ec2:DeregisterImage, ec2:DescribeSnapshots, ec2:DeleteSnapshot (the image and \
             its copies, found by bakery:bake-id)"
                .to_string(),
            "ec2:DescribeSecurityGroups, ec2:DeleteSecurityGroup (the bake's group)".to_string(),
            format!(
                "ssm:DeleteParameter {}<version> (the claim)",
                claims_path(&self.role)
            ),
        ];
        if let Some(topic) = &self.sns_topic {
            calls.push(format!("sns:Publish {topic} (the alert)"));
        }
        calls
    }

    /// The calls of `step`, as `build` makes them (a release's step: as every build).
    fn calls_of(&self, build: &BuildPlan, step: &Step) -> Vec<String> {
        match step {
            Step::CheckRelease
            | Step::CheckChanged
            | Step::Network
            | Step::Claim
            | Step::CheckSecrets => self.release_checks(step),
            Step::ResolveBase => vec![base_reads(&build.base)],
            Step::CheckLaunch => self.launch_checks(build),
            Step::CheckDistribute => self
                .copy_to
                .iter()
                .map(|copy| format!("ec2:CopyImage into {} (DryRun)", copy.region))
                .collect(),
            Step::Launch
            | Step::WaitReady
            | Step::Stop
            | Step::CreateImage
            | Step::WaitImage
            | Step::Terminate => self.builder_calls(build, step),
            Step::Recipe(_)
            | Step::Firstboot
            | Step::Generalize
            | Step::TestFirstboot
            | Step::Test(_) => {
                let document = self.command(step).map_or("?", |c| c.document.name());
                // ListCommands finds a command whose SendCommand answer was lost.
                vec![format!(
                    "ssm:SendCommand {document} ({step}), ssm:ListCommands, ssm:GetCommandInvocation"
                )]
            }
            Step::TestLaunch | Step::TestReady | Step::TestTerminate => {
                self.gate_calls(build, step)
            }
            Step::FindRelease | Step::RecordTests => retest_calls(step),
            Step::RecordRelease | Step::Distribute | Step::Share | Step::Promote => {
                self.publish_calls(step)
            }
            Step::Plan | Step::Cleanup | Step::Report => Vec::new(),
        }
    }

    /// What the bake reads (and claims) before it makes anything.
    fn release_checks(&self, step: &Step) -> Vec<String> {
        match step {
            Step::CheckRelease => {
                let mut calls = vec![
                    "sts:GetCallerIdentity".to_string(),
                    "ec2:DescribeRegions (the bake's regions are the account's)".to_string(),
                    format!("ec2:DescribeImages (is {}@{} new?)", self.role, self.version),
                ];
                if matches!(self.version, VersionRequest::Next { .. }) {
                    calls.push(format!("ssm:GetParametersByPath {}", claims_path(&self.role)));
                }
                calls
            }
            Step::CheckChanged => vec![
                "the base's reads (as resolve-base), ec2:DescribeImages (the role's releases: \
                 bakery:inputs of the newest)"
                    .to_string(),
            ],
            Step::Network => vec![self.network_reads()],
            Step::Claim => vec![
                format!(
                    "ssm:PutParameter {}<version> (claim, no overwrite; ssm:GetParameter when taken)",
                    claims_path(&self.role)
                ),
            ],
            _ => vec![format!(
                "ssm:DescribeParameters {} (secrets exist and are SecureString; values are read on the builder)",
                self.secret_parameters.join(", ")
            )],
        }
    }

    /// A dry run's launch: the network's reads, then each create with DryRun.
    fn launch_checks(&self, build: &BuildPlan) -> Vec<String> {
        let mut calls = vec![self.network_reads()];
        if build.builder.security_groups.is_empty() {
            calls.push("ec2:CreateSecurityGroup (DryRun)".to_string());
        }
        calls.push(format!("{} (DryRun)", self.run_instances(build)));
        if let Some(instance_type) = &build.test_instance_type {
            calls.push(format!(
                "ec2:RunInstances {instance_type} (DryRun, the test instance)"
            ));
        }
        calls
    }

    /// The builder's life, from its launch to its image and its end.
    fn builder_calls(&self, build: &BuildPlan, step: &Step) -> Vec<String> {
        let makes_group = build.builder.security_groups.is_empty();
        let mut calls = Vec::new();
        match step {
            Step::Launch => {
                if makes_group {
                    calls.push(
                        "ec2:CreateSecurityGroup (no inbound rules; ec2:DescribeSecurityGroups \
                         when its answer was lost)"
                            .to_string(),
                    );
                }
                calls.push(self.run_instances(build));
            }
            Step::WaitReady => calls.push(
                "ec2:DescribeInstances, ssm:DescribeInstanceInformation (until running and online)"
                    .to_string(),
            ),
            Step::Stop => calls.push("ec2:StopInstances".to_string()),
            Step::CreateImage => {
                calls.push("ec2:CreateImage (tags on image and snapshots)".to_string())
            }
            Step::WaitImage => calls.extend([
                "ec2:DescribeImages (until available)".to_string(),
                "ec2:EnableImageDeprecation".to_string(),
            ]),
            _ => {
                calls.push("ec2:TerminateInstances".to_string());
                // With a gate, the test instance uses the group until its own end.
                if makes_group && self.test.is_none() {
                    calls.push("ec2:DeleteSecurityGroup".to_string());
                }
            }
        }
        calls
    }

    /// The gate's test instance: its launch, its readiness, its end.
    fn gate_calls(&self, build: &BuildPlan, step: &Step) -> Vec<String> {
        match step {
            Step::TestLaunch => vec![format!(
                "ec2:RunInstances {} from the new image, IMDSv2-only, metadata tags on, \
                 encrypted-root, the builder's security group, ec2:CreateTags (its tags){}",
                build.test_instance_type.as_deref().unwrap_or("?"),
                self.pass_role()
            )],
            Step::TestReady => vec![
                "ec2:DescribeInstances, ssm:DescribeInstanceInformation (test instance running and online)"
                    .to_string(),
            ],
            _ => {
                let mut calls = vec!["ec2:TerminateInstances (test instance)".to_string()];
                if build.builder.security_groups.is_empty() {
                    calls.push("ec2:DeleteSecurityGroup".to_string());
                }
                calls
            }
        }
    }

    /// The release made: its record, copies, shares and channels.
    fn publish_calls(&self, step: &Step) -> Vec<String> {
        match step {
            Step::RecordRelease => {
                let mut calls = Vec::new();
                if self.test.is_some() {
                    calls.push("ec2:CreateTags bakery:tests (image and snapshots)".to_string());
                }
                calls.push("ssm:PutParameter (release record)".to_string());
                calls
            }
            Step::Distribute => self.copy_to.iter().map(copy_calls).collect(),
            Step::Share => vec![
                "ec2:ModifyImageAttribute, ec2:ModifySnapshotAttribute, ec2:DescribeSnapshots, \
                 kms:DescribeKey, kms:GetKeyPolicy (share, in every region of the release)"
                    .to_string(),
            ],
            _ => self
                .channels_to_move()
                .iter()
                .map(|channel| {
                    format!(
                        "ssm:PutParameter {}{channel} (aws:ec2:image)",
                        channels_path(&self.role)
                    )
                })
                .collect(),
        }
    }

    /// The reads that decide the builder's subnet and whether it needs a public address.
    fn network_reads(&self) -> String {
        let builder = self.shared_builder();
        let subnet = match &builder.subnet {
            Some(subnet) => format!("ec2:DescribeSubnets {subnet}"),
            None => "ec2:DescribeVpcs (default), ec2:DescribeSubnets (default for its zone)".into(),
        };
        let groups = match builder.security_groups.is_empty() {
            true => String::new(),
            false => ", ec2:DescribeSecurityGroups (the recipe's groups exist there)".into(),
        };
        format!(
            "{subnet}, ec2:DescribeVpcEndpoints, ec2:DescribeRouteTables (the way to SSM){groups}, \
             ec2:DescribeInstanceTypes (the builder's and test instance's types exist)"
        )
    }

    fn run_instances(&self, build: &BuildPlan) -> String {
        let builder = &build.builder;
        let address = match builder.public_address {
            Some(policy) => format!("public address {policy}"),
            None => "public address only if the subnet needs one".into(),
        };
        let profile = builder
            .instance_profile
            .as_deref()
            .map(|p| format!(" profile={p}"))
            .unwrap_or_default();
        format!(
            "ec2:RunInstances {} IMDSv2-only hop-limit={} encrypted-root{profile} ({address}), \
             ec2:CreateTags (its tags){}",
            builder.instance_type(),
            builder.metadata_hop_limit(),
            self.pass_role()
        )
    }

    /// Launching with an instance profile passes its role to EC2.
    fn pass_role(&self) -> &'static str {
        if self.shared_builder().instance_profile.is_some() {
            ", iam:PassRole"
        } else {
            ""
        }
    }
}

/// How the base is found.
fn base_reads(base: &BaseImage) -> String {
    match base {
        BaseImage::Image(id) => format!("ec2:DescribeImages {id}"),
        BaseImage::SsmParameter(path) => format!("ssm:GetParameter {path}, ec2:DescribeImages"),
        BaseImage::Filter { owner, name } => {
            format!("ec2:DescribeImages owner={owner} name={name} (newest)")
        }
        BaseImage::Release { role, .. } => {
            format!("ssm:GetParameter / ec2:DescribeImages (release of {role})")
        }
        BaseImage::DryRunRelease { built_from, .. } => {
            format!("ec2:DescribeImages {built_from}")
        }
    }
}

/// One region's copy: CopyImage, its wait, its deprecation and its record.
fn copy_calls(copy: &Destination) -> String {
    format!(
        "ec2:CopyImage into {}{} (encrypted; the image and its snapshots tagged as created), \
         ec2:DescribeImages (until available), ec2:EnableImageDeprecation, ssm:PutParameter \
         (release record there)",
        copy.region,
        copy.kms_key
            .as_deref()
            .map(|k| format!(" with {k}"))
            .unwrap_or_default()
    )
}

/// `bakery test`'s own steps: the release found, its outcome recorded.
fn retest_calls(step: &Step) -> Vec<String> {
    match step {
        Step::FindRelease => vec![
            "ssm:GetParameter (release record), ec2:DescribeImages".to_string(),
            "ec2:DescribeVpcs, ec2:DescribeSubnets, ec2:CreateSecurityGroup (test instance)"
                .to_string(),
        ],
        _ => vec![
            "ec2:CreateTags bakery:tests (every image of the release), ssm:PutParameter (release record)"
                .to_string(),
        ],
    }
}
