//! The janitor's judgements, without AWS: which bakes are dead, which builders are
//! left over.

use std::collections::BTreeMap;

use super::*;

const NOW: &str = "2026-11-22T12:00:00Z";

fn claim(host: &str, pid: u64, deadline: &str) -> ReleaseRecord {
    ReleaseRecord {
        bake_id: "b-1".into(),
        release: "base@1.0.0".into(),
        state: RecordState::Baking,
        started_at: "2026-11-22T11:00:00Z".into(),
        created_by: None,
        host: Some(host.into()),
        pid: Some(pid),
        deadline: Some(deadline.into()),
        images: BTreeMap::new(),
    }
}

#[test]
fn a_bake_on_this_host_is_dead_when_its_process_is_gone() {
    let running = |pid| pid == 7;
    let alive = claim("ci-1", 7, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&alive, "ci-1", NOW, running), None);
    let killed = claim("ci-1", 8, "2026-11-22T13:00:00Z");
    assert_eq!(
        judge_claim(&killed, "ci-1", NOW, running).as_deref(),
        Some("its bakery process (pid 8) is gone")
    );
}

#[test]
fn a_bake_elsewhere_is_dead_only_after_its_deadline() {
    let nothing_runs = |_| false;
    let elsewhere = claim("ci-2", 8, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&elsewhere, "ci-1", NOW, nothing_runs), None);
    let late = claim("ci-2", 8, "2026-11-22T11:30:00Z");
    assert_eq!(
        judge_claim(&late, "ci-1", NOW, nothing_runs).as_deref(),
        Some("its deadline 2026-11-22T11:30:00Z has passed")
    );
    let released = ReleaseRecord {
        state: RecordState::Released,
        ..late
    };
    assert_eq!(judge_claim(&released, "ci-1", NOW, nothing_runs), None);
}

#[test]
fn a_builder_is_left_over_past_its_deadline_or_when_its_bake_is_not_alive() {
    let mut bakes = Bakes::default();
    bakes.alive.insert("alive".into());
    bakes
        .dead
        .insert("dead".into(), "its deadline has passed".into());
    let later = "2026-11-22T13:00:00Z";
    assert_eq!(judge_builder("instance", "alive", later, NOW, &bakes), None);
    assert_eq!(
        judge_builder("instance", "alive", "2026-11-22T11:00:00Z", NOW, &bakes).as_deref(),
        Some("builder instance past its deadline 2026-11-22T11:00:00Z")
    );
    assert_eq!(
        judge_builder("security group", "dead", later, NOW, &bakes).as_deref(),
        Some("bake dead died: its deadline has passed")
    );
    assert_eq!(
        judge_builder("instance", "unknown", later, NOW, &bakes).as_deref(),
        Some("bake unknown is not running (no claim says it bakes)")
    );
}
