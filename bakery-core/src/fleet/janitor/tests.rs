//! The janitor's judgements, without AWS: which bakes are dead, which builders are
//! left over.

use std::collections::BTreeMap;

use super::*;

const NOW: &str = "2026-11-22T12:00:00Z";

fn place(host: &str, pid_namespace: &str) -> Whereabouts {
    Whereabouts {
        host: Some(host.into()),
        boot_id: Some("boot-1".into()),
        pid_namespace: Some(pid_namespace.into()),
    }
}

fn claim(at: &Whereabouts, pid: u64, deadline: &str) -> ReleaseRecord {
    ReleaseRecord {
        bake_id: "b-1".into(),
        release: "base@1.0.0".into(),
        state: RecordState::Baking,
        started_at: "2026-11-22T11:00:00Z".into(),
        created_by: None,
        host: at.host.clone(),
        boot_id: at.boot_id.clone(),
        pid_namespace: at.pid_namespace.clone(),
        pid: Some(pid),
        deadline: Some(deadline.into()),
        lease_until: Some("2026-11-22T12:04:00Z".into()),
        images: BTreeMap::new(),
        architectures: BTreeMap::new(),
        vars: BTreeMap::new(),
        tests: None,
        inputs: None,
        retest: None,
    }
}

#[test]
fn a_bake_on_this_host_is_dead_when_its_process_is_gone() {
    let here = place("ci-1", "pid:[1]");
    let running = |pid| pid == 7;
    let alive = claim(&here, 7, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&alive, &here, NOW, running), None);
    let killed = claim(&here, 8, "2026-11-22T13:00:00Z");
    assert_eq!(
        judge_claim(&killed, &here, NOW, running).as_deref(),
        Some("its bakery process (pid 8) is gone")
    );
}

#[test]
fn a_bake_elsewhere_is_dead_only_after_its_deadline() {
    let here = place("ci-1", "pid:[1]");
    let nothing_runs = |_| false;
    let elsewhere = claim(&place("ci-2", "pid:[1]"), 8, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&elsewhere, &here, NOW, nothing_runs), None);
    let late = claim(&place("ci-2", "pid:[1]"), 8, "2026-11-22T11:30:00Z");
    assert_eq!(
        judge_claim(&late, &here, NOW, nothing_runs).as_deref(),
        Some("its deadline 2026-11-22T11:30:00Z has passed")
    );
    let released = ReleaseRecord {
        state: RecordState::Released,
        ..late
    };
    assert_eq!(judge_claim(&released, &here, NOW, nothing_runs), None);
}

#[test]
fn a_bake_in_another_pid_namespace_is_judged_by_its_lease_not_by_this_process_table() {
    let here = place("ci-1", "pid:[1]");
    let nothing_runs = |_| false;
    // A Jenkins agent's container: same host name, its own pid namespace.
    let container = place("ci-1", "pid:[2]");
    let running = claim(&container, 1, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&running, &here, NOW, nothing_runs), None);
    let stopped_renewing = ReleaseRecord {
        lease_until: Some("2026-11-22T11:55:00Z".into()),
        ..running
    };
    assert_eq!(
        judge_claim(&stopped_renewing, &here, NOW, nothing_runs).as_deref(),
        Some("its lease expired at 2026-11-22T11:55:00Z: the bake stopped renewing it")
    );
    // macOS: no /proc, nothing to compare: the lease alone decides.
    let mac = Whereabouts {
        host: Some("mac-1".into()),
        ..Whereabouts::default()
    };
    let on_mac = claim(&mac, 1, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&on_mac, &mac, NOW, nothing_runs), None);
}

#[test]
fn a_builder_is_left_over_past_its_deadline_or_when_its_bake_is_not_alive() {
    let mut bakes = Bakes::default();
    bakes.alive.insert("alive".into());
    bakes
        .dead
        .insert("dead".into(), "its deadline has passed".into());
    let later = "2026-11-22T13:00:00Z";
    let leftover = |reason: &str| Some(Verdict::Leftover(reason.to_string()));
    assert_eq!(
        judge_builder("builder instance", "alive", later, false, NOW, &bakes),
        None
    );
    assert_eq!(
        judge_builder(
            "builder instance",
            "alive",
            "2026-11-22T11:00:00Z",
            false,
            NOW,
            &bakes
        ),
        leftover("builder instance past its deadline 2026-11-22T11:00:00Z")
    );
    assert_eq!(
        judge_builder("builder security group", "dead", later, false, NOW, &bakes),
        leftover("builder security group of bake dead, which died: its deadline has passed")
    );
    assert_eq!(
        judge_builder("builder instance", "unknown", later, false, NOW, &bakes),
        leftover("builder instance of bake unknown, which is not running (no claim says it bakes)")
    );
}

#[test]
fn a_kept_builder_is_spared_until_its_deadline() {
    let bakes = Bakes::default();
    assert_eq!(
        judge_builder(
            "builder instance",
            "failed",
            "2026-11-22T13:00:00Z",
            true,
            NOW,
            &bakes
        ),
        Some(Verdict::Kept(
            "kept with --keep-on-failure until its deadline 2026-11-22T13:00:00Z".into()
        ))
    );
    assert!(matches!(
        judge_builder(
            "builder instance",
            "failed",
            "2026-11-22T11:00:00Z",
            true,
            NOW,
            &bakes
        ),
        Some(Verdict::Leftover(_))
    ));
}

#[test]
fn a_bakery_test_run_lives_while_it_renews_its_lease_and_its_process_runs() {
    let here = place("ci-1", "pid:[1]");
    let nothing_runs = |_| false;
    let elsewhere = Retest {
        run: "t-1".into(),
        lease_until: "2026-11-22T12:04:00Z".into(),
        host: Some("ci-2".into()),
        boot_id: Some("boot-1".into()),
        pid_namespace: Some("pid:[1]".into()),
        pid: Some(77),
    };
    assert_eq!(judge_retest(&elsewhere, &here, NOW, nothing_runs), None);
    let killed_here = Retest {
        host: Some("ci-1".into()),
        ..elsewhere.clone()
    };
    assert_eq!(
        judge_retest(&killed_here, &here, NOW, nothing_runs).as_deref(),
        Some("its `bakery test` process (pid 77) is gone")
    );
    assert_eq!(
        judge_retest(&killed_here, &here, NOW, |pid| pid == 77),
        None
    );
    let gone = Retest {
        lease_until: "2026-11-22T11:55:00Z".into(),
        ..elsewhere
    };
    assert_eq!(
        judge_retest(&gone, &here, NOW, nothing_runs).as_deref(),
        Some("its lease expired at 2026-11-22T11:55:00Z: `bakery test` stopped renewing it")
    );
    let bakes = Bakes {
        dead: BTreeMap::from([("t-1".to_string(), "its lease expired".to_string())]),
        ..Bakes::default()
    };
    assert_eq!(
        judge_builder(
            "test instance",
            "t-1",
            "2026-11-22T13:00:00Z",
            false,
            NOW,
            &bakes
        ),
        Some(Verdict::Leftover(
            "test instance of bake t-1, which died: its lease expired".into()
        ))
    );
}
