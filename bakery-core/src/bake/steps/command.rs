//! A command step (a recipe step, firstboot, generalize; a test): one Run Command on
//! the builder or the test instance, its output streamed into events while it runs, a failure named with its
//! exit code and the tail of its output.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::super::context::Bake;
use crate::aws::ssm::{
    Invocation, OutputDestination, ScriptCommand, INVOCATION_STDERR_CHARS, INVOCATION_STDOUT_CHARS,
};
use crate::aws::state::CommandStatus;
use crate::error::{Error, Result, StepFailure};
use crate::events::{Event, OutputStream};
use crate::model::{Release, Step};
use crate::plan::CommandStep;
use crate::script::step::reboots_in;
use crate::wait::{self, Poll, WaitPolicy};

/// Output lines kept for the error of a failed step.
const OUTPUT_TAIL_LINES: usize = 25;

/// Runs `command` on `instance_id`, and again after a failure as many times as its
/// `retries` say (each attempt said; a signal ends the wait between them): the last
/// attempt's failure is the step's.
pub async fn run(
    bake: &Bake<'_>,
    command: &CommandStep,
    release: &Release,
    instance_id: &str,
) -> Result<()> {
    if command.reboots.after {
        let note = "the instance reboots after this step";
        bake.info(command.step.clone(), note.to_string());
    }
    let attempts = command.retries + 1;
    for attempt in 1..attempts {
        match run_once(bake, command, release, instance_id, attempt).await {
            Err(Error::StepFailed(failure)) => {
                let code = format!("{}, exit code {}", failure.status, failure.exit_code);
                bake.info(
                    command.step.clone(),
                    format!(
                        "attempt {attempt} of {attempts} failed ({code}); trying again in {}",
                        crate::model::time::human(command.retry_delay)
                    ),
                );
                tokio::select! {
                    _ = tokio::time::sleep(command.retry_delay) => {}
                    _ = bake.cancel.cancelled() => return Err(Error::Interrupted),
                }
            }
            done => return done,
        }
    }
    run_once(bake, command, release, instance_id, attempts).await
}

/// One attempt of `command` on `instance_id`: sent once (found again when its answer
/// was lost), its output streamed while it runs, a failure named with its exit code and
/// output.
async fn run_once(
    bake: &Bake<'_>,
    command: &CommandStep,
    release: &Release,
    instance_id: &str,
    attempt: u32,
) -> Result<()> {
    let step = &command.step;
    let text = command.command_for(&bake.plan.values(bake.build(), release));
    // Each attempt its own: a lost answer's search by comment finds this attempt's.
    let attempt_mark = match attempt {
        1 => String::new(),
        n => format!(" try {n}"),
    };
    let script = ScriptCommand {
        document: command.document,
        script: &text,
        execution_timeout_secs: command.timeout.as_secs(),
        // The step first: the comment is cut at 100 characters, and it names the
        // command on this build's builder.
        comment: format!("bakery {step}{attempt_mark} {} {release}", bake.build().id),
        output: output_destination(bake, release),
    };
    let command_id = send(bake, step, &script, instance_id).await?;
    bake.info(
        step.clone(),
        format!("command {command_id} sent to {instance_id}"),
    );
    if let Some(output) = &script.output {
        bake.info(
            step.clone(),
            kept_output_text(output, &command_id, instance_id),
        );
    }
    let invocation = match finished(bake, command, &command_id, instance_id).await {
        Ok(invocation) => invocation,
        Err(error) => {
            // Best effort: the builder is about to be terminated anyway.
            let cancel = bake.aws.ssm.cancel_command(&command_id, instance_id);
            let _ = tokio::time::timeout(Duration::from_secs(10), cancel).await;
            return Err(error);
        }
    };
    if invocation.status == CommandStatus::Success {
        let reboots = reboots_in(&invocation.stdout);
        if reboots > 0 {
            bake.rebooted(reboots);
        }
        return Ok(());
    }
    Err(Error::StepFailed(Box::new(StepFailure {
        step: step.clone(),
        instance_id: instance_id.to_string(),
        region: bake.region().to_string(),
        status: invocation.status.to_string().to_lowercase(),
        exit_code: invocation.exit_code,
        output_tail: output_tail(&invocation),
    })))
}

/// SendCommand, until the instance takes it. Just after registering, SSM may still
/// refuse the instance for a moment; a send whose answer was lost may have been carried
/// out: it is looked for (by its comment) before sending again.
async fn send(
    bake: &Bake<'_>,
    step: &Step,
    script: &ScriptCommand<'_>,
    instance_id: &str,
) -> Result<String> {
    let ssm = &bake.aws.ssm;
    let sent_before = AtomicBool::new(false);
    wait::until(
        bake.target(step, "Run Command delivery to", instance_id),
        &WaitPolicy::new(Duration::from_secs(120)).retrying(),
        bake.sink,
        &bake.cancel,
        || async {
            if sent_before.swap(true, Ordering::Relaxed) {
                if let Some(id) = ssm
                    .command_commented(instance_id, &script.comment())
                    .await?
                {
                    return Ok(Poll::Ready(id));
                }
            }
            match ssm.send_script(instance_id, script).await {
                Ok(id) => Ok(Poll::Ready(id)),
                Err(e) if e.aws_code() == Some("InvalidInstanceId") => {
                    Ok(Poll::Pending("instance not accepting commands yet".into()))
                }
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The command's invocation once it finished, its output streamed into events as it
/// comes: the command's own timeout plus delivery time, polls frequent enough for that.
async fn finished(
    bake: &Bake<'_>,
    command: &CommandStep,
    command_id: &str,
    instance_id: &str,
) -> Result<Invocation> {
    let step = &command.step;
    let shown_stdout = AtomicUsize::new(0);
    let shown_stderr = AtomicUsize::new(0);
    wait::until(
        bake.target(step, "command", command_id),
        &WaitPolicy::new(command.timeout + Duration::from_secs(120))
            .with_max_interval(Duration::from_secs(5)),
        bake.sink,
        &bake.cancel,
        || async {
            let Some(invocation) = bake.aws.ssm.invocation(command_id, instance_id).await? else {
                return Ok(Poll::Pending("Delivering".into()));
            };
            let done = invocation.is_finished();
            let streams = [
                (&invocation.stdout, &shown_stdout, OutputStream::Stdout),
                (&invocation.stderr, &shown_stderr, OutputStream::Stderr),
            ];
            for (text, shown, stream) in streams {
                stream_output(bake, step, text, shown, stream, done);
            }
            Ok(match done {
                true => Poll::Ready(invocation),
                false => Poll::Pending(invocation.status.to_string()),
            })
        },
    )
    .await
}

/// Where the whole output of the bake's commands is kept, when configured.
fn output_destination(bake: &Bake<'_>, release: &Release) -> Option<OutputDestination> {
    let configured = &bake.plan.step_output;
    if !configured.is_set() {
        return None;
    }
    let version = release.version.to_string();
    let build = bake.build().id.to_string();
    let prefix = [
        configured.s3_prefix.as_deref().map(|p| p.trim_matches('/')),
        Some(release.role.as_str()),
        Some(version.as_str()),
        Some(build.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join("/");
    Some(OutputDestination {
        s3_bucket: configured.s3_bucket.clone(),
        s3_key_prefix: configured.s3_bucket.as_ref().map(|_| prefix),
        s3_region: configured
            .s3_bucket
            .as_ref()
            .map(|_| bake.region().to_string()),
        cloudwatch_log_group: configured.cloudwatch_log_group.clone(),
    })
}

/// Emits the lines of `text` past what was already shown: whole lines while the
/// command runs, everything once it has finished.
fn stream_output(
    bake: &Bake<'_>,
    step: &Step,
    text: &str,
    shown: &AtomicUsize,
    stream: OutputStream,
    finished: bool,
) {
    let from = shown.load(Ordering::Relaxed);
    if text.len() <= from || !text.is_char_boundary(from) {
        return;
    }
    let new = &text[from..];
    let complete = match new.rfind('\n') {
        _ if finished => new,
        Some(end) => &new[..=end],
        None => return,
    };
    for line in complete.lines() {
        bake.sink.emit(Event::Output {
            step: step.clone(),
            stream,
            line: line.to_string(),
        });
    }
    shown.store(from + complete.len(), Ordering::Relaxed);
}

/// Where SSM keeps a command's whole output, for the events.
fn kept_output_text(output: &OutputDestination, command_id: &str, instance_id: &str) -> String {
    let mut places = Vec::new();
    if let (Some(bucket), Some(prefix)) = (&output.s3_bucket, &output.s3_key_prefix) {
        places.push(format!(
            "s3://{bucket}/{prefix}/{command_id}/{instance_id}/"
        ));
    }
    if let Some(group) = &output.cloudwatch_log_group {
        places.push(format!(
            "CloudWatch Logs {group} (streams {command_id}/{instance_id}/...)"
        ));
    }
    format!("whole output kept in {}", places.join(" and "))
}

/// The last lines of the output SSM returned; when SSM cut it (it returns only the
/// first characters of each stream), a line that says the end is missing.
fn output_tail(invocation: &Invocation) -> String {
    let mut lines: Vec<&str> = invocation.stdout.lines().collect();
    lines.extend(invocation.stderr.lines());
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    let mut tail: Vec<String> = lines[start..].iter().map(|l| format!("  | {l}")).collect();
    let cut = invocation.stdout.chars().count() >= INVOCATION_STDOUT_CHARS
        || invocation.stderr.chars().count() >= INVOCATION_STDERR_CHARS;
    if cut {
        tail.push(format!(
            "  (SSM returns only the first {INVOCATION_STDOUT_CHARS} characters of output and \
             {INVOCATION_STDERR_CHARS} of errors: the step's last lines are not here; \
             `step_output` in bakery.toml keeps all of it in S3 or CloudWatch Logs)"
        ));
    }
    tail.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_ssm_cut_says_its_end_is_missing() {
        let invocation = Invocation {
            status: CommandStatus::Failed,
            exit_code: 1,
            stdout: "x".repeat(INVOCATION_STDOUT_CHARS),
            stderr: String::new(),
        };
        assert!(output_tail(&invocation).contains("the step's last lines are not here"));
    }

    #[test]
    fn the_output_tail_keeps_the_last_lines_of_both_streams() {
        let invocation = Invocation {
            status: CommandStatus::Failed,
            exit_code: 3,
            stdout: (1..=40).map(|i| format!("line {i}\n")).collect(),
            stderr: "E: unable to locate package\n".into(),
        };
        let tail = output_tail(&invocation);
        assert_eq!(tail.lines().count(), OUTPUT_TAIL_LINES);
        assert!(tail.ends_with("  | E: unable to locate package"));
        assert!(tail.starts_with("  | line 17"));
    }
}
