//! Sharing: launch permissions on images, create-volume permissions on snapshots.

use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, OperationType, SnapshotAttributeName,
};

use super::Ec2;
use crate::aws::error::Context;
use crate::error::Result;
use crate::model::{PermissionChange, Sharing};

impl Ec2 {
    /// Grants or revokes launch permissions on an image.
    pub async fn change_launch_permission(
        &self,
        image_id: &str,
        grantees: &Sharing,
        change: PermissionChange,
    ) -> Result<()> {
        let mut permissions = Vec::new();
        for account in &grantees.accounts {
            permissions.push(LaunchPermission::builder().user_id(account).build());
        }
        for org in &grantees.organizations {
            permissions.push(LaunchPermission::builder().organization_arn(org).build());
        }
        for ou in &grantees.organizational_units {
            permissions.push(
                LaunchPermission::builder()
                    .organizational_unit_arn(ou)
                    .build(),
            );
        }
        let modifications = match change {
            PermissionChange::Grant => {
                LaunchPermissionModifications::builder().set_add(Some(permissions))
            }
            PermissionChange::Revoke => {
                LaunchPermissionModifications::builder().set_remove(Some(permissions))
            }
        };
        self.client
            .modify_image_attribute()
            .image_id(image_id)
            .launch_permission(modifications.build())
            .send()
            .await
            .context(self.call("ModifyImageAttribute").on(image_id))?;
        Ok(())
    }

    /// Grants or revokes create-volume permission on a snapshot for accounts.
    pub async fn change_create_volume_permission(
        &self,
        snapshot_id: &str,
        accounts: &[String],
        change: PermissionChange,
    ) -> Result<()> {
        self.client
            .modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(match change {
                PermissionChange::Grant => OperationType::Add,
                PermissionChange::Revoke => OperationType::Remove,
            })
            .set_user_ids(Some(accounts.to_vec()))
            .send()
            .await
            .context(self.call("ModifySnapshotAttribute").on(snapshot_id))?;
        Ok(())
    }
}
