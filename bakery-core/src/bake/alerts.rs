//! The bake's SNS alert: one message when a bake fails or is interrupted (and, when
//! asked, when it succeeds), for the team that owns the role.

use serde_json::json;

use super::context::Bake;
use super::report::{BakeReport, BakeStatus};
use crate::events::Event;
use crate::model::Step;

/// Publishes the alert of a finished bake, when a topic is configured (and, for a
/// success, when asked); a failure to publish is a warning, never a second failure.
pub async fn send(bake: &Bake<'_>, report: &BakeReport, output_tail: Option<&str>) {
    let plan = bake.plan;
    if plan.dry_run {
        return;
    }
    let Some(topic) = &plan.sns_topic else {
        return;
    };
    // Nothing baked, nothing to tell.
    if report.status == BakeStatus::Unchanged
        || (report.status == BakeStatus::Succeeded && !plan.notify_success)
    {
        return;
    }
    let (subject, body) = message(report, output_tail, plan.build_url.as_deref());
    match bake.aws.sns.publish(topic, &subject, &body).await {
        Ok(()) => bake.info(Step::Report, format!("alert sent to {topic}")),
        Err(error) => bake.sink.emit(Event::Warning {
            message: format!("could not send the alert: {error}"),
        }),
    }
}

/// Subject and JSON body of the alert for a finished bake.
pub fn message(
    report: &BakeReport,
    output_tail: Option<&str>,
    build_url: Option<&str>,
) -> (String, String) {
    let step = report
        .ending
        .failed_step
        .as_ref()
        .map_or("-".to_string(), Step::to_string);
    let subject = match report.status {
        BakeStatus::Succeeded => format!("bakery: {} {} baked", report.role, report.version),
        BakeStatus::Unchanged => format!("bakery: {} {} unchanged", report.role, report.version),
        BakeStatus::Failed => format!(
            "bakery: {} {} failed at {step}",
            report.role, report.version
        ),
        BakeStatus::Interrupted => format!(
            "bakery: {} {} interrupted at {step}",
            report.role, report.version
        ),
    };
    let body = json!({
        "status": report.status,
        "role": report.role,
        "version": report.version,
        "bake_id": report.bake_id,
        "region": report.region,
        "step": report.ending.failed_step,
        "error": report.ending.error,
        "builder_instance_id": report.builder_instance_id,
        "output_tail": output_tail,
        "build_url": build_url,
        "images": report.images,
        "leaked": report.ending.leaked,
    });
    (subject, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_failure_names_role_version_and_step() {
        let mut report = BakeReport::refused(Some("base"), "2.4.0", &Error::input("boom"));
        report.status = BakeStatus::Failed;
        report.ending.failed_step = Some(Step::Recipe("packages".into()));
        let (subject, body) = message(
            &report,
            Some("E: no such package"),
            Some("https://ci/job/7"),
        );
        assert_eq!(subject, "bakery: base 2.4.0 failed at recipe/packages");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["step"], "recipe/packages");
        assert_eq!(body["output_tail"], "E: no such package");
        assert_eq!(body["build_url"], "https://ci/job/7");
    }
}
