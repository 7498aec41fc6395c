//! `bakery test <recipe> <version>`: the release gate run again against a release
//! that exists (after its runlist changed, or to clear a `skipped`): a test instance
//! from the release's image in the home region, the firstboot outcome and every test,
//! then the outcome written to the release's record and to its images' `bakery:tests`
//! tag in every region. While it runs, the record carries its lease, so that
//! `bakery cleanup` spares its test instance.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::cleanup;
use super::context::{self, Bake, Failure};
use super::lease::{renewing, LEASE, RENEWAL};
use super::report::{BakeStatus, Ending, ImageRecord, StepRecord};
use super::steps::gate::Placement;
use crate::aws::ec2::ImageInfo;
use crate::aws::state::ImageState;
use crate::aws::Aws;
use crate::config::Recipe;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, EventSink};
use crate::model::gate::TAG_TESTS;
use crate::model::release::parse_version_argument;
use crate::model::time::{rfc3339, rfc3339_before};
use crate::model::{Arch, GateState, Release, Step};
use crate::plan::{BakePlan, BakeRequest, BuildPlan};
use crate::release::channels;
use crate::release::claim::{self, RecordState, ReleaseRecord, RunLease, TestRecord};

/// What a `bakery test` run found and did.
#[derive(Debug, Clone, Serialize)]
pub struct RetestReport {
    /// How the run ended: `succeeded`, `failed` or `interrupted`.
    pub status: BakeStatus,
    /// The release tested, as `role@version`.
    pub release: String,
    /// The region the run worked in: where the test instances ran.
    pub region: String,
    /// This run's id: the test instance's `bakery:bake-id`, the record's `tests.by`.
    pub run_id: String,
    /// The images tested, one per architecture (as a bake's report names them).
    pub images: Vec<ImageRecord>,
    /// `passed` or `failed`; the release's previous state when the run did not end.
    pub tests: Option<GateState>,
    /// The names of the recipe's tests.
    pub test_names: Vec<String>,
    /// The steps run, in the order they started.
    pub steps: Vec<StepRecord>,
    /// How long the run took, in seconds (to the millisecond).
    pub seconds: f64,
    /// How it ended: the error, if any, and what is left.
    #[serde(flatten)]
    pub ending: Ending,
}

impl RetestReport {
    /// The report of a run refused before it started (bad input, no gate).
    pub fn refused(release: String, region: &str, error: &Error) -> RetestReport {
        RetestReport {
            status: BakeStatus::Failed,
            release,
            region: region.to_string(),
            run_id: String::new(),
            images: Vec::new(),
            tests: None,
            test_names: Vec::new(),
            steps: Vec::new(),
            seconds: 0.0,
            ending: Ending::refused(error),
        }
    }
}

/// The release as `find-release` found it: its image of each architecture of the
/// plan, in the plan's order.
struct Found {
    release: Release,
    record: ReleaseRecord,
    images: Vec<ImageInfo>,
}

/// The plan of `bakery test`: the recipe's gate, its tests given the variables the
/// release was baked with (its record's), unless `--var` says otherwise.
pub async fn plan(request: &BakeRequest, aws: &Aws, now: SystemTime) -> crate::Result<BakePlan> {
    // The record first: a required variable has its value there.
    let recipe = Recipe::load(&request.recipe_dir)?;
    let version = request
        .version
        .as_deref()
        .map(parse_version_argument)
        .transpose()?;
    let record = match version {
        Some(version) => {
            let release = Release {
                role: recipe.name.clone(),
                version,
            };
            claim::read(aws, &release).await?
        }
        None => None,
    };
    let given: Vec<&str> = request
        .flags
        .vars
        .iter()
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name))
        .collect();
    let baked_with = record
        .iter()
        .flat_map(|record| &record.vars)
        .filter(|(name, _)| recipe.vars.contains_key(*name) && !given.contains(&name.as_str()));
    let mut request = request.clone();
    request
        .flags
        .vars
        .extend(baked_with.map(|(name, value)| format!("{name}={value}")));
    BakePlan::for_retest(&request, &aws.region, now)
}

/// Runs the plan's gate against its release (`BakePlan::for_retest`).
pub async fn retest(
    plan: &BakePlan,
    aws: &Aws,
    sink: &dyn EventSink,
    cancel: CancellationToken,
) -> RetestReport {
    let bake = Bake::new(plan, aws, sink, cancel).leaving_builds_their_steps();
    // A release of several architectures is tested on each, at once, as a bake makes
    // them: a failure in one stops the other.
    let siblings = bake.cancel.child_token();
    let marks = context::marks(plan, sink);
    let builds = bake.builds(&marks, &siblings);
    let mut found = None;
    let outcome = run(&bake, &builds, &siblings, &mut found).await;
    let failure = outcome.err();
    let (kept, leaked) = cleanup::at_the_end(&bake, failure.as_ref(), None).await;
    let tests = match (&found, &failure) {
        (Some(found), Some(failure)) => {
            // The gate's verdict stands on the record; an interrupted run leaves it be.
            let failed =
                failure.step.judges_the_image() && failure.error.kind() == ErrorKind::Failed;
            let state = failed.then_some(GateState::Failed);
            let step = failed.then(|| failure.step.to_string());
            if let Err(error) = record(&bake, found, state, step).await {
                sink.emit(Event::Warning {
                    message: format!("could not update the record of {}: {error}", found.release),
                });
            }
            Some(state.unwrap_or(found.record.gate()))
        }
        (Some(_), None) => Some(GateState::Passed),
        (None, _) => None,
    };
    let status = failure
        .as_ref()
        .map_or(BakeStatus::Succeeded, |f| BakeStatus::of_error(&f.error));
    RetestReport {
        status,
        release: format!("{}@{}", plan.role, plan.version),
        region: aws.region.clone(),
        run_id: plan.bake_id.clone(),
        images: found
            .as_ref()
            .map(|f| tested(plan, &aws.region, f))
            .unwrap_or_default(),
        tests,
        test_names: plan.test_names.clone(),
        steps: bake.step_records(),
        seconds: bake.seconds(),
        ending: Ending::after(failure, (kept, leaked)),
    }
}

async fn run(
    bake: &Bake<'_>,
    builds: &[Bake<'_>],
    siblings: &CancellationToken,
    found: &mut Option<Found>,
) -> Result<(), Failure> {
    let release = bake
        .plan
        .version
        .resolve(&[])
        .map(|version| bake.plan.release(version))
        .map_err(|error| Failure {
            step: Step::FindRelease,
            arch: None,
            error,
        })?;
    let release = bake.step(Step::FindRelease, find(bake, &release)).await?;
    let release = found.insert(release);
    let lease = release.record.clone();
    let gates = builds
        .iter()
        .zip(&release.images)
        .map(|(build, image)| super::gate(build, &release.release, image, Placement::Own, None));
    let gate = super::all_or_none(siblings, gates);
    let renew = || async {
        let mut record = lease.clone();
        record.retest = Some(RunLease::new(
            &bake.plan.bake_id,
            SystemTime::now() + LEASE,
            bake.lock(),
        ));
        if let Err(error) = claim::renew(bake.aws, &release.release, &record).await {
            bake.sink.emit(Event::Warning {
                message: format!("could not renew the test run's lease (retrying): {error}"),
            });
        }
    };
    renewing(gate, RENEWAL, renew).await?;
    let passed = record(bake, release, Some(GateState::Passed), None);
    bake.step(Step::RecordTests, passed).await
}

/// The images a run tested: each build's, in the plan's order.
fn tested(plan: &BakePlan, region: &str, found: &Found) -> Vec<ImageRecord> {
    plan.builds
        .iter()
        .zip(&found.images)
        .map(|(build, image)| ImageRecord {
            region: region.to_string(),
            arch: build.arch(),
            image_id: image.id.clone(),
            name: image.name.clone(),
            snapshot_ids: image.snapshot_ids.clone(),
        })
        .collect()
}

/// The release's available image of `arch` in this region.
async fn image_of(
    bake: &Bake<'_>,
    release: &Release,
    record: &ReleaseRecord,
    arch: Arch,
) -> crate::Result<ImageInfo> {
    let region = bake.region();
    // A record made before releases had several architectures has `images` only.
    let of_arch = match record.architectures.is_empty() {
        true => &record.images,
        false => record.architectures.get(&arch).unwrap_or(&record.images),
    };
    let Some(image_id) = of_arch.get(region) else {
        let regions: Vec<&str> = record.regions().into_iter().map(String::as_str).collect();
        return Err(Error::input(format!(
            "{release} has no image in {region} (it is in {})",
            regions.join(", ")
        ))
        .with_hint("run `bakery test` with --region set to one of those"));
    };
    match bake.aws.ec2.describe_image(image_id).await? {
        Some(image) if image.architecture.as_deref() != Some(arch.as_str()) => {
            Err(Error::input(format!(
                "{release} has no {arch} image in {region}: it was baked before its recipe \
                 had {arch}"
            )))
        }
        Some(image) if image.state == ImageState::Available => Ok(image),
        Some(image) => Err(Error::input(format!(
            "image {image_id} of {release} in {region} is {}",
            image.state
        ))),
        None => Err(Error::input(format!(
            "image {image_id} of {release} is gone from {region}"
        ))),
    }
}

/// The release's record and its image in this region; the record then carries this
/// run's lease.
async fn find(bake: &Bake<'_>, release: &Release) -> crate::Result<Found> {
    let region = bake.region();
    let record = claim::read(bake.aws, release).await?;
    let record = match record {
        Some(record) if record.state == RecordState::Released => record,
        Some(record) => {
            return Err(Error::input(format!(
                "{release} is not a release yet: {} holds it",
                record.holder()
            )))
        }
        None => {
            return Err(
                Error::input(format!("{release} has no release record in {region}"))
                    .with_hint(format!("see `bakery releases {}`", release.role)),
            )
        }
    };
    let mut images = Vec::new();
    for arch in bake.plan.builds.iter().map(BuildPlan::arch) {
        images.push(image_of(bake, release, &record, arch).await?);
    }
    // One run at a time: the record's lease is what spares a run's test instance.
    if let Some(running) = record
        .retest
        .as_ref()
        .filter(|r| !rfc3339_before(&r.lease_until, &rfc3339(SystemTime::now())))
    {
        return Err(Error::input(format!(
            "{release} is being tested by another `bakery test` (run {}, lease until {})",
            running.run, running.lease_until
        ))
        .with_hint(
            "wait for it to finish; a run that died frees the release when its lease ends",
        ));
    }
    let mut leased = record.clone();
    leased.retest = Some(RunLease::new(
        &bake.plan.bake_id,
        SystemTime::now() + LEASE,
        bake.lock(),
    ));
    claim::renew(bake.aws, release, &leased).await?;
    let ids: Vec<&str> = images.iter().map(|image| image.id.as_str()).collect();
    bake.info(
        Step::FindRelease,
        format!(
            "{release}: {} {} in {region}; its tests were {}",
            if ids.len() == 1 { "image" } else { "images" },
            ids.join(", "),
            record.gate()
        ),
    );
    Ok(Found {
        release: release.clone(),
        record,
        images,
    })
}

/// Writes the run's outcome (`state`; none when it did not end) to the record in
/// every region of the release, and to its images' `bakery:tests` tags.
async fn record(
    bake: &Bake<'_>,
    found: &Found,
    state: Option<GateState>,
    failed: Option<String>,
) -> crate::Result<()> {
    let mut record = found.record.clone();
    record.retest = None;
    if let Some(state) = state {
        let names = &bake.plan.test_names;
        let tag = BTreeMap::from([(TAG_TESTS.to_string(), state.tag_value(names))]);
        let everywhere = record
            .architectures
            .values()
            .chain(std::iter::once(&record.images))
            .flatten();
        let mut by_region: BTreeMap<&String, Vec<String>> = BTreeMap::new();
        for (region, image_id) in everywhere {
            let ids = by_region.entry(region).or_default();
            if !ids.contains(image_id) {
                ids.push(image_id.clone());
            }
        }
        for (region, image_ids) in by_region {
            bake.aws.in_region(region).ec2.tag(&image_ids, &tag).await?;
        }
        record.tests = Some(TestRecord {
            state,
            tests: names.clone(),
            at: rfc3339(SystemTime::now()),
            by: bake.plan.bake_id.clone(),
            failed,
        });
    }
    claim::write_everywhere(bake.aws, &found.release, &record).await?;
    // A release that passes now may be `latest`, which skipped it while it had not.
    if state == Some(GateState::Passed)
        && channels::move_latest(bake.aws, &found.release, &[]).await?
    {
        bake.info(
            Step::RecordTests,
            format!("channel latest -> {}", found.release),
        );
    }
    Ok(())
}
