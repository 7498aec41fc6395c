//! L4, one bake: the chain of DESIGN.md as one short list of steps (`chain`), each a
//! stage in `steps` that hands the next one a value. Every created resource enters
//! the `ledger`; on any failure or interrupt `cleanup` walks it backwards; the
//! result is a [`report::BakeReport`] and, when asked, an SNS alert (`alerts`).
//! `bake --all` runs several bakes ([`world`]); a rebuild's plan keeps what its
//! newest release was given ([`rebuild`]).

pub(crate) mod alerts;
pub(crate) mod cleanup;
pub(crate) mod context;
pub(crate) mod lease;
pub(crate) mod ledger;
pub mod manifest;
pub mod rebuild;
pub mod report;
pub mod retest;
pub(crate) mod steps;
pub mod world;

use std::future::Future;

use tokio_util::sync::CancellationToken;

use self::context::{Bake, Facts, Failure};
use self::report::{BakeReport, BakeStatus, Ending, ImageRecord};
use self::steps::changes::Checked;
use self::steps::gate::Placement;
use self::steps::{base, builder, changes, checks, command, gate, image, publish, release};
use crate::aws::ec2::ImageInfo;
use crate::aws::Aws;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, EventSink};
use crate::model::inputs::ReleaseInputs;
use crate::model::time::rfc3339;
use crate::model::{GateState, Provenance, Release, Resource, Step};
use crate::plan::BakePlan;

/// Runs the whole chain; never panics on AWS errors, always returns a report.
/// Cancelling `cancel` interrupts the bake at the next wait and cleans up.
pub async fn bake(
    plan: &BakePlan,
    aws: &Aws,
    sink: &dyn EventSink,
    cancel: CancellationToken,
) -> BakeReport {
    let bake = Bake::new(plan, aws, sink, cancel).leaving_builds_their_steps();
    sink.emit(Event::BakeStarted {
        bake_id: plan.bake_id.clone(),
        release: format!("{}@{}", plan.role, plan.version),
        region: bake.region().to_string(),
        recipe: plan.recipe_dir.display().to_string(),
        environment: plan.environment.clone(),
        copies_to: plan.copy_to.iter().map(|d| d.region.clone()).collect(),
    });
    // One build per architecture, its events marked when there are several. A build
    // that fails stops the others: the release holds every architecture or none.
    let siblings = bake.cancel.child_token();
    let marks = context::marks(plan, sink);
    let builds = bake.builds(&marks, &siblings);
    let mut facts = Facts {
        tests: plan.gate,
        ..Facts::default()
    };
    let outcome = within_the_deadline(&bake, chain(&bake, &builds, &siblings, &mut facts)).await;
    finish(&bake, facts, outcome.err()).await
}

/// The chain, stopped (as by a signal: what it made is removed) when `[deadlines]
/// bake` passes; its failure then says so.
async fn within_the_deadline(
    bake: &Bake<'_>,
    chain: impl Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    let Some(limit) = bake.plan.waits.bake else {
        return chain.await;
    };
    let passed = tokio::time::sleep(limit);
    tokio::pin!(chain, passed);
    let outcome = tokio::select! {
        outcome = &mut chain => return outcome,
        _ = &mut passed => {
            let limit = crate::model::time::human(limit);
            bake.stop_because(format!("the bake's deadline ({limit}) passed"));
            chain.await
        }
    };
    match outcome {
        Err(failure) => Err(Failure {
            error: Error::Timeout {
                what: "bake",
                resource: bake.plan.bake_id.clone(),
                region: bake.region().to_string(),
                after: limit,
                last_state: format!("at step {}", failure.step),
                hint: Some("raise `[deadlines] bake` in the recipe or the environment"),
            },
            ..failure
        }),
        outcome => outcome,
    }
}

/// Runs every build's `work` at once; once one fails, the others are stopped (their
/// steps see `siblings` cancelled) and the failure that stopped them is the answer.
pub(crate) async fn all_or_none<T>(
    siblings: &CancellationToken,
    works: impl IntoIterator<Item = impl Future<Output = Result<T, Failure>>>,
) -> Result<Vec<T>, Failure> {
    let works = works.into_iter().map(|work| async {
        let result = work.await;
        if result.is_err() {
            siblings.cancel();
        }
        result
    });
    let (done, failed): (Vec<_>, Vec<_>) = futures_util::future::join_all(works)
        .await
        .into_iter()
        .partition(Result::is_ok);
    let mut failures: Vec<Failure> = failed.into_iter().filter_map(Result::err).collect();
    // The build that failed on its own, rather than one its failure stopped.
    failures.sort_by_key(|f| f.error.kind() == ErrorKind::Interrupted);
    match failures.into_iter().next() {
        // Every build interrupted: the whole bake was, not one of its builds.
        Some(failure) if failure.error.kind() == ErrorKind::Interrupted => Err(Failure {
            arch: None,
            ..failure
        }),
        Some(failure) => Err(failure),
        None => Ok(done.into_iter().filter_map(Result::ok).collect()),
    }
}

/// The chain, in the order of the plan's [`BakePlan::chain`]: the release's steps
/// here, each architecture's in its build ([`Step::is_per_architecture`]). A dry run
/// is the same list with checks in place of the steps that create.
async fn chain(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    facts: &mut Facts,
) -> Result<(), Failure> {
    let chosen = bake
        .step(Step::CheckRelease, release::check(bake, facts))
        .await?;
    let Some(compared) = compare(bake, builds, facts).await? else {
        return Ok(()); // unchanged: nothing to bake
    };
    let (release, created_by) = (chosen.release.clone(), chosen.created_by.clone());
    let claimed = claim_and_resolve(bake, builds, siblings, (chosen, compared), facts);
    let (claimed, bases) = claimed.await?;
    facts.base_images = builds
        .iter()
        .zip(&bases)
        .map(|(build, base)| (build.build().arch(), base.image.id.clone()))
        .collect();
    facts.base_release = bases[0].release.as_ref().map(ToString::to_string);
    bake.optional(Step::CheckSecrets, checks::secrets(bake))
        .await?;
    match claimed {
        None => check_only(bake, builds, siblings, &release, &bases).await,
        Some((claim, network)) => {
            let made = (&claim, network, created_by);
            make_and_publish(bake, builds, siblings, made, &bases, facts).await
        }
    }
}

/// `--if-changed`: None when the newest release has this bake's inputs (the facts then
/// name it), else the bases it compared (none without `--if-changed`).
async fn compare(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    facts: &mut Facts,
) -> Result<Option<Vec<base::Base>>, Failure> {
    match bake
        .optional(Step::CheckChanged, changes::check(bake, builds))
        .await?
    {
        Some(Checked::Unchanged(unchanged)) => {
            facts.inputs = Some(unchanged.inputs.clone());
            facts.unchanged = Some(unchanged);
            Ok(None)
        }
        Some(Checked::Changed(bases)) => Ok(Some(bases)),
        None => Ok(Some(Vec::new())),
    }
}

/// The builder's network then the claim (neither in a dry run), and each build's base,
/// at once: neither needs the other. The network is its own step, before the claim: a
/// subnet the builder could not use is refused before anything exists (a dry run
/// checks it at check-launch). A base `--if-changed` resolved already is the one the
/// bake is made on.
async fn claim_and_resolve(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    (chosen, compared): (release::Chosen, Vec<base::Base>),
    facts: &mut Facts,
) -> Result<(Option<(release::Claim, builder::Network)>, Vec<base::Base>), Failure> {
    let claim = async {
        if bake.plan.dry_run {
            return Ok(None);
        }
        let network = bake.step(Step::Network, builder::network(bake)).await?;
        let claim = bake.step(Step::Claim, release::claim(bake, chosen, facts));
        Ok(Some((claim.await?, network)))
    };
    let mut compared = compared.into_iter();
    let resolve = builds.iter().map(|build| {
        let compared = compared.next();
        let resolve = async move {
            match compared {
                Some(base) => Ok(base),
                None => base::resolve(build, Step::ResolveBase).await,
            }
        };
        build.step(Step::ResolveBase, resolve)
    });
    let (claimed, bases) = tokio::join!(claim, all_or_none(siblings, resolve));
    Ok((claimed?, bases?))
}

/// A dry run checks what the bake would create, and creates nothing.
async fn check_only(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    release: &Release,
    bases: &[base::Base],
) -> Result<(), Failure> {
    let launches = builds.iter().zip(bases).map(|(build, base)| {
        build.step(
            Step::CheckLaunch,
            checks::launch(build, release, &base.image),
        )
    });
    all_or_none(siblings, launches).await?;
    bake.optional(
        Step::CheckDistribute,
        checks::distribute(bake, &bases[0].image),
    )
    .await?;
    Ok(())
}

/// Each build's image under the claim's lease, then, while the builders terminate
/// (an available image no longer needs its builder: its snapshots are resources of
/// their own, which the builder's termination and its root volume's deletion do not
/// touch — EC2 User Guide, "Create an Amazon EBS-backed AMI" and "How instance
/// termination works"), the gate, record, copies — CopyImage takes a source once it
/// is `available` (API reference, CopyImage) — sharing and channels. The bake ends
/// once the builders are gone. The test instance shares the builder's group, which
/// then goes with the test instance.
async fn make_and_publish(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    (claim, network, created_by): (&release::Claim, builder::Network, String),
    bases: &[base::Base],
    facts: &mut Facts,
) -> Result<(), Failure> {
    let makes = builds
        .iter()
        .zip(bases)
        .map(|(build, base)| make(build, claim, network.clone(), base, created_by.clone()));
    let made = lease::held_while(bake, claim, all_or_none(siblings, makes)).await?;
    facts.inputs = Some(made[0].inputs.clone());
    let gated = bake.plan.test.is_some();
    let terminate = builds.iter().zip(&made).map(|(build, made)| {
        build.step(
            Step::Terminate,
            builder::terminate(build, &made.builder, gated),
        )
    });
    let terminate = futures_util::future::join_all(terminate);
    let publish = after_the_images(bake, builds, siblings, claim, &made, facts);
    let (terminated, published) = tokio::join!(terminate, publish);
    published?;
    terminated
        .into_iter()
        .collect::<Result<Vec<()>, Failure>>()?;
    Ok(())
}

/// What one build made: the image (as recorded and as described), the builder, and
/// what the image is made of.
struct Made {
    image: ImageRecord,
    described: ImageInfo,
    builder: builder::Builder,
    inputs: ReleaseInputs,
}

/// The builder's life up to its image, while the bake holds the lease on its claim:
/// launch, the commands, stop, the image.
async fn make(
    bake: &Bake<'_>,
    claim: &release::Claim,
    network: builder::Network,
    base: &base::Base,
    created_by: String,
) -> Result<Made, Failure> {
    let plan = bake.plan;
    let builder = bake
        .step(
            Step::Launch,
            builder::launch(bake, &claim.release, &base.image, network),
        )
        .await?;
    bake.launched_builder(&builder.instance_id);
    bake.step(Step::WaitReady, builder::wait_ready(bake, &builder))
        .await?;
    for step in &plan.steps {
        let run = command::run(bake, step, &claim.release, &builder.instance_id);
        bake.step(step.step.clone(), run).await?;
    }
    bake.step(Step::Stop, builder::stop(bake, &builder)).await?;
    let inputs = bake.build().inputs.with_base(&base.image.id);
    let provenance = Provenance {
        bake_id: plan.bake_id.clone(),
        base_image: base.image.id.clone(),
        base_release: base.release.as_ref().map(ToString::to_string),
        recipe_digest: plan.recipe_digest.clone(),
        inputs: Some(inputs.fingerprint.clone()),
        created_by: Some(created_by),
        source_commit: plan.source_commit.clone(),
        build_url: plan.build_url.clone(),
    };
    let create = image::create(bake, &claim.release, &builder, &provenance);
    let image_id = bake.step(Step::CreateImage, create).await?;
    let (image, described) = bake
        .step(Step::WaitImage, image::wait(bake, &image_id))
        .await?;
    Ok(Made {
        image,
        described,
        builder,
        inputs,
    })
}

/// After the images: each build's gate (under the claim's lease), then the release's
/// record, its copies, sharing and channels.
async fn after_the_images(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    claim: &release::Claim,
    made: &[Made],
    facts: &mut Facts,
) -> Result<(), Failure> {
    let gates = builds.iter().zip(made).map(|(build, made)| {
        let placement = Placement::Builder {
            network: &made.builder.network,
            security_groups: made.builder.security_groups(build),
        };
        let group = made.builder.security_group.as_deref();
        gate(build, &claim.release, &made.described, placement, group)
    });
    let tested = lease::held_while(bake, claim, all_or_none(siblings, gates)).await;
    facts.tests = match &tested {
        Ok(states) => states[0],
        Err(f) if f.step.judges_the_image() && f.error.kind() == ErrorKind::Failed => {
            GateState::Failed
        }
        Err(_) => facts.tests,
    };
    tested?;
    let images: Vec<ImageRecord> = made.iter().map(|m| m.image.clone()).collect();
    let verdict = publish::Verdict {
        tests: facts.tests,
        inputs: facts.inputs.as_ref(),
    };
    let recorded = publish::record(bake, claim, &images, verdict);
    bake.step(Step::RecordRelease, recorded).await?;
    facts.released.clone_from(&images);
    let mut copies = publish::Copies::default();
    let distributed = publish::distribute(bake, claim, &images, verdict, &mut copies);
    let distributed = bake.optional(Step::Distribute, distributed).await;
    (facts.copies, facts.regions) = (copies.images, copies.regions);
    distributed?;
    // Every region the release is in, once (each architecture has a copy there).
    let mut regions = vec![bake.region().to_string()];
    for copy in &facts.copies {
        if !regions.contains(&copy.region) {
            regions.push(copy.region.clone());
        }
    }
    let shared = publish::share(bake, claim, &regions, &mut facts.shared);
    bake.optional(Step::Share, shared).await?;
    let promoted = publish::promote(bake, claim, facts.tests, &mut facts.promoted);
    bake.optional(Step::Promote, promoted).await?;
    Ok(())
}

/// The release gate, when the plan has one: a test instance from the new image boots
/// through its firstboot agent, then runs each test; it is terminated (with `group`,
/// when the gate owns it) once every test passed. Without a gate, the plan's state
/// (`none`, `skipped`) stands.
pub(crate) async fn gate(
    bake: &Bake<'_>,
    release: &Release,
    image: &ImageInfo,
    placement: Placement<'_>,
    group: Option<&str>,
) -> Result<GateState, Failure> {
    let Some(test) = &bake.plan.test else {
        return Ok(bake.plan.gate);
    };
    let started = tokio::time::Instant::now();
    let launch = gate::launch(bake, release, image, placement);
    let instance = bake.step(Step::TestLaunch, launch).await?;
    bake.step(Step::TestReady, gate::wait_ready(bake, &instance))
        .await?;
    for command in &test.commands {
        let remaining = test.timeout.saturating_sub(started.elapsed());
        let run = async {
            tokio::time::timeout(remaining, gate::run(bake, command, release, &instance))
                .await
                .unwrap_or_else(|_| Err(gate::stage_timed_out(bake, release, &command.step)))
        };
        bake.step(command.step.clone(), run).await?;
    }
    let terminate = gate::terminate(bake, &instance, group);
    bake.step(Step::TestTerminate, terminate).await?;
    Ok(GateState::Passed)
}

/// After the chain: cleanup when anything is left in the ledger (or may be, after a
/// failure), the report, the alert.
async fn finish(bake: &Bake<'_>, facts: Facts, failure: Option<Failure>) -> BakeReport {
    let status = match &failure {
        None if facts.unchanged.is_some() => BakeStatus::Unchanged,
        None => BakeStatus::Succeeded,
        Some(f) => BakeStatus::of_error(&f.error),
    };
    let failure_tail = failure
        .as_ref()
        .and_then(|f| f.error.output_tail())
        .map(str::to_string);
    let ending = cleanup::at_the_end(bake, failure.as_ref(), facts.release.as_ref());
    let (kept, leaked) = ending.await;
    let steps = bake.step_records();
    let unfinished = unfinished(bake, &steps, &facts, failure.is_some(), &leaked);
    let report = report(
        bake,
        status,
        facts,
        failure,
        (steps, unfinished),
        (kept, leaked),
    );
    alerts::send(bake, &report, failure_tail.as_deref()).await;
    report
}

/// The steps a failed bake of a chosen release did not get to. A release is made;
/// what its bake could not remove is left to finish, not a reason to unmake it.
fn unfinished(
    bake: &Bake<'_>,
    steps: &[report::StepRecord],
    facts: &Facts,
    failed: bool,
    leaked: &[Resource],
) -> Vec<Step> {
    if !failed || facts.release.is_none() {
        return Vec::new();
    }
    let succeeded: Vec<Step> = steps
        .iter()
        .filter(|s| s.status == BakeStatus::Succeeded)
        .map(|s| s.name.clone())
        .collect();
    let mut unfinished = bake.plan.unfinished(&succeeded);
    if succeeded.contains(&Step::RecordRelease) && !leaked.is_empty() {
        unfinished.push(Step::Cleanup);
    }
    unfinished
}

/// The bake's report, from what it learned and made.
fn report(
    bake: &Bake<'_>,
    status: BakeStatus,
    facts: Facts,
    failure: Option<Failure>,
    (steps, unfinished): (Vec<report::StepRecord>, Vec<Step>),
    (kept, leaked): (Vec<Resource>, Vec<Resource>),
) -> BakeReport {
    let plan = bake.plan;
    let to_complete = match &facts.release {
        Some(release) => plan.completion(release, &unfinished),
        None => Vec::new(),
    };
    let builders = bake.builders();
    BakeReport {
        status,
        unfinished,
        to_complete,
        dry_run: plan.dry_run,
        role: plan.role.to_string(),
        version: match (&facts.unchanged, &facts.release) {
            (Some(unchanged), _) => unchanged.release.version.to_string(),
            (None, Some(release)) => release.version.to_string(),
            (None, None) => plan.version.to_string(),
        },
        bake_id: plan.bake_id.clone(),
        run_uuid: plan.run_uuid.clone(),
        vars: plan.vars.clone(),
        region: bake.region().to_string(),
        builder_instance_id: builders.first().map(|(_, id)| id.clone()),
        builders: builders.into_iter().collect(),
        base_image: facts.base_images.get(&plan.builds[0].arch()).cloned(),
        base_images: facts.base_images,
        base_release: facts.base_release,
        images: build_region_first(
            bake.region(),
            match facts.unchanged {
                Some(unchanged) => unchanged.images,
                None => facts.released.into_iter().chain(facts.copies).collect(),
            },
        ),
        inputs: facts.inputs.map(|inputs| inputs.fingerprint),
        tests: facts.tests,
        test_names: plan.test_names.clone(),
        regions: facts.regions,
        steps,
        started_at: rfc3339(bake.started_at),
        seconds: bake.seconds(),
        channels: facts.promoted,
        shared: facts.shared,
        ending: Ending::after(failure, (kept, leaked)),
    }
}

/// ` (arm64)`: which architecture's build a step was, when the bake makes several.
pub fn of_arch(arch: Option<crate::model::Arch>) -> String {
    arch.map(|arch| format!(" ({arch})")).unwrap_or_default()
}

/// The images with the build region's first, the others in the order they came: a
/// result's or manifest's first image is one that exists where the bake ran.
fn build_region_first(region: &str, mut images: Vec<ImageRecord>) -> Vec<ImageRecord> {
    images.sort_by_key(|image| image.region != region);
    images
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    #[test]
    fn the_build_region_s_images_come_first() {
        let image = |region: &str, arch| ImageRecord {
            region: region.into(),
            arch,
            image_id: format!("ami-{region}-{arch}"),
            name: "n".into(),
            snapshot_ids: vec![],
        };
        let listed = build_region_first(
            "us-east-1",
            vec![
                image("eu-west-1", Arch::X86_64),
                image("us-east-1", Arch::X86_64),
                image("eu-west-1", Arch::Arm64),
                image("us-east-1", Arch::Arm64),
            ],
        );
        let order: Vec<String> = listed.iter().map(|i| i.image_id.clone()).collect();
        assert_eq!(
            order,
            [
                "ami-us-east-1-x86_64",
                "ami-us-east-1-arm64",
                "ami-eu-west-1-x86_64",
                "ami-eu-west-1-arm64"
            ]
        );
    }
}
