//! The janitor's judgements, without AWS: which bakes are dead, which builders are
//! left over.

use std::collections::BTreeMap;

use super::*;

const NOW: &str = "2026-11-22T12:00:00Z";

fn lock(path: &str) -> LockNote {
    LockNote {
        host: "ci-1".into(),
        boot_id: "boot-1".into(),
        path: path.into(),
        dev: 1,
        ino: 2,
    }
}

fn claim(lock: Option<LockNote>, deadline: &str) -> ReleaseRecord {
    ReleaseRecord {
        bake_id: "b-1".into(),
        release: "base@1.0.0".into(),
        state: RecordState::Baking,
        started_at: "2026-11-22T11:00:00Z".into(),
        created_by: None,
        lock,
        deadline: Some(deadline.into()),
        lease_until: Some("2026-11-22T12:04:00Z".into()),
        images: BTreeMap::new(),
        architectures: BTreeMap::new(),
        vars: BTreeMap::new(),
        overrides: BTreeMap::new(),
        tests: None,
        inputs: None,
        retest: None,
        distributing: None,
    }
}

/// What the locks say: the one at `free` is free, every other is held.
fn locks_say(free: &'static str) -> impl Fn(&LockNote) -> LockProbe {
    move |note| match note.path == free {
        true => LockProbe::Free,
        false => LockProbe::Held,
    }
}

#[test]
fn a_bake_whose_lock_is_free_is_dead_at_once() {
    let probe = locks_say("/tmp/bakery-run-b-8.lock");
    let alive = claim(
        Some(lock("/tmp/bakery-run-b-7.lock")),
        "2026-11-22T13:00:00Z",
    );
    assert_eq!(judge_claim(&alive, NOW, &probe), None);
    let killed = claim(
        Some(lock("/tmp/bakery-run-b-8.lock")),
        "2026-11-22T13:00:00Z",
    );
    assert_eq!(
        judge_claim(&killed, NOW, &probe).as_deref(),
        Some("its lock /tmp/bakery-run-b-8.lock is free: its process has ended")
    );
}

#[test]
fn a_bake_whose_lock_cannot_be_seen_is_dead_only_after_its_lease_or_deadline() {
    // Another host, a container with its own /tmp, a claim from before locks, macOS:
    // nothing to ask but the claim's own times.
    let unseen = |_: &LockNote| LockProbe::Unseen;
    let elsewhere = claim(Some(lock("/tmp/x.lock")), "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&elsewhere, NOW, unseen), None);
    let without = claim(None, "2026-11-22T13:00:00Z");
    assert_eq!(judge_claim(&without, NOW, unseen), None);
    let stopped_renewing = ReleaseRecord {
        lease_until: Some("2026-11-22T11:55:00Z".into()),
        ..without.clone()
    };
    assert_eq!(
        judge_claim(&stopped_renewing, NOW, unseen).as_deref(),
        Some("its lease expired at 2026-11-22T11:55:00Z: the bake stopped renewing it")
    );
    let late = claim(None, "2026-11-22T11:30:00Z");
    assert_eq!(
        judge_claim(&late, NOW, unseen).as_deref(),
        Some("its deadline 2026-11-22T11:30:00Z has passed")
    );
}

#[test]
fn the_bake_of_a_release_runs_while_its_last_lease_does_or_its_lock_is_held() {
    let unseen = |_: &LockNote| LockProbe::Unseen;
    // Its builders still terminate beside the record.
    let released = ReleaseRecord {
        state: RecordState::Released,
        deadline: None,
        ..claim(
            Some(lock("/tmp/bakery-run-b-1.lock")),
            "2026-11-22T13:00:00Z",
        )
    };
    assert_eq!(judge_claim(&released, NOW, unseen), None);
    let later = "2026-11-22T12:10:00Z";
    assert_eq!(
        judge_claim(&released, later, unseen).as_deref(),
        Some("its lease expired at 2026-11-22T12:04:00Z: the bake stopped renewing it")
    );
    assert_eq!(
        judge_claim(&released, later, |_: &LockNote| LockProbe::Held),
        None,
        "a slow termination: its process still holds the lock"
    );
    let older = ReleaseRecord {
        lease_until: None,
        lock: None,
        ..released
    };
    assert_eq!(
        judge_claim(&older, NOW, unseen).as_deref(),
        Some("its release is recorded and its bake ended")
    );
}

#[test]
fn only_images_named_as_bakery_names_them_belong_to_a_release() {
    assert_eq!(
        release_of_image_name("bakery/base/1.2.0/arm64").as_deref(),
        Some("base@1.2.0")
    );
    assert_eq!(release_of_image_name("bakery/base/1.2.0"), None);
    assert_eq!(release_of_image_name("team/base/1.2.0/arm64"), None);
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
fn a_bakery_test_run_lives_while_it_renews_its_lease_and_holds_its_lock() {
    let probe = locks_say("/tmp/bakery-run-t-2.lock");
    let running = RunLease {
        run: "t-1".into(),
        lease_until: "2026-11-22T12:04:00Z".into(),
        lock: Some(lock("/tmp/bakery-run-t-1.lock")),
    };
    assert_eq!(judge_run(&running, TEST_RUN, NOW, &probe), None);
    let killed = RunLease {
        lock: Some(lock("/tmp/bakery-run-t-2.lock")),
        ..running.clone()
    };
    assert_eq!(
        judge_run(&killed, TEST_RUN, NOW, &probe).as_deref(),
        Some("its lock /tmp/bakery-run-t-2.lock is free: `bakery test` has ended")
    );
    let gone = RunLease {
        lease_until: "2026-11-22T11:55:00Z".into(),
        ..running
    };
    assert_eq!(
        judge_run(&gone, TEST_RUN, NOW, &probe).as_deref(),
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
