//! SNS: the bake's alerts.

use aws_sdk_sns::Client;

use super::error::{Call, Context};
use crate::error::Result;

#[derive(Clone)]
pub struct Sns {
    client: Client,
    region: String,
}

impl Sns {
    pub fn new(client: Client, region: &str) -> Self {
        Sns {
            client,
            region: region.to_string(),
        }
    }

    /// Publishes a message; the subject is cut to SNS's 100 characters.
    pub async fn publish(&self, topic_arn: &str, subject: &str, message: &str) -> Result<()> {
        let subject: String = subject
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .context(Call::new("Publish", &self.region).on(topic_arn))?;
        Ok(())
    }
}
