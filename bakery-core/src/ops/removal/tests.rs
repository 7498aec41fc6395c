//! What a removal decides from each answer AWS gives, without AWS.

use std::collections::BTreeMap;

use super::*;
use crate::error::AwsError;
use crate::error::Error;

fn aws_error(code: &str) -> Error {
    AwsError {
        operation: "DeleteSnapshot",
        region: "eu-west-1".into(),
        resource: Some("snap-1".into()),
        code: Some(code.into()),
        message: format!("{code}: ..."),
        request_id: None,
        transient: false,
        source: None,
    }
    .into()
}

fn instance(state: &str) -> InstanceInfo {
    InstanceInfo {
        id: "i-1".into(),
        image_id: "ami-1".into(),
        state: InstanceState::parse(state),
        state_reason: Some("Client.UserInitiatedShutdown".into()),
        tags: BTreeMap::new(),
    }
}

fn image(state: &str) -> ImageInfo {
    ImageInfo {
        id: "ami-1".into(),
        name: "bakery/base/1.0.0/x86_64".into(),
        state: ImageState::parse(state),
        state_reason: Some("Server.InternalError".into()),
        architecture: None,
        windows: false,
        root_device_name: None,
        root_volume_gib: None,
        creation_date: None,
        deprecation_time: None,
        snapshot_ids: vec![],
        tags: BTreeMap::new(),
    }
}

#[test]
fn a_delete_is_done_when_it_succeeds_or_the_thing_is_gone_and_retried_while_in_use() {
    assert_eq!(
        deletion_poll(Ok(()), SNAPSHOT_BUSY).unwrap(),
        Poll::Ready(())
    );
    assert_eq!(
        deletion_poll(Err(aws_error("InvalidSnapshot.NotFound")), SNAPSHOT_BUSY).unwrap(),
        Poll::Ready(())
    );
    assert_eq!(
        deletion_poll(Err(aws_error("InvalidSnapshot.InUse")), SNAPSHOT_BUSY).unwrap(),
        Poll::Pending("still in use".into())
    );
    assert_eq!(
        deletion_poll(Err(aws_error("DependencyViolation")), GROUP_BUSY).unwrap(),
        Poll::Pending("still in use".into())
    );
    let denied = deletion_poll(Err(aws_error("UnauthorizedOperation")), GROUP_BUSY).unwrap_err();
    assert_eq!(denied.aws_code(), Some("UnauthorizedOperation"));
}

#[test]
fn an_instance_on_its_way_is_pending_and_one_that_went_elsewhere_fails() {
    let stopping = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
    ];
    assert_eq!(
        instance_poll(
            Some(instance("stopping")),
            &InstanceState::Stopped,
            &stopping
        ),
        Poll::Pending("stopping".into())
    );
    assert_eq!(
        instance_poll(
            Some(instance("stopped")),
            &InstanceState::Stopped,
            &stopping
        ),
        Poll::Ready(())
    );
    assert_eq!(
        instance_poll(
            Some(instance("terminated")),
            &InstanceState::Stopped,
            &stopping
        ),
        Poll::Failed {
            state: "terminated".into(),
            reason: Some("Client.UserInitiatedShutdown".into())
        }
    );
    assert_eq!(
        instance_poll(None, &InstanceState::Terminated, &[]),
        Poll::Ready(()),
        "an instance AWS forgot is terminated"
    );
    assert_eq!(
        instance_poll(None, &InstanceState::Running, &[]),
        Poll::Pending("not yet visible".into())
    );
}

#[test]
fn an_image_is_ready_when_available_and_fails_fast_on_a_final_state() {
    assert!(matches!(
        image_poll(Some(image("available"))),
        Poll::Ready(_)
    ));
    assert_eq!(
        image_poll(Some(image("pending"))),
        Poll::Pending("pending".into())
    );
    assert_eq!(
        image_poll(Some(image("failed"))),
        Poll::Failed {
            state: "failed".into(),
            reason: Some("Server.InternalError".into())
        }
    );
    assert_eq!(image_poll(None), Poll::Pending("not yet visible".into()));
}
