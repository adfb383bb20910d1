//! `opendls job ...`: create, list, show and cancel jobs; `--wait` follows a job to its end with
//! a live bar of its targets by state.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use opendls_api::{JobDetailView, JobView, Waiting};
use opendls_api::{JobRequest, Targets};
use opendls_engine::{TargetState, utc_text};
use reqwest::Method;

use crate::client::Client;
use crate::{Connection, JobCommand, JobCreateArgs};

/// Runs one job command.
pub fn run(connection: Connection, command: JobCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = Client::new(&connection)?;
        let json = connection.json;
        match command {
            JobCommand::Create(args) => create(&client, *args, json).await,
            JobCommand::List { limit } => {
                let jobs: Vec<JobView> = client.get(&format!("/api/jobs?limit={limit}")).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&jobs)?);
                } else {
                    print_jobs(&jobs);
                }
                Ok(ExitCode::SUCCESS)
            }
            JobCommand::Show { id } => {
                let job: JobDetailView = client.get(&format!("/api/jobs/{id}")).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&job)?);
                } else {
                    print_job(&job);
                }
                Ok(ExitCode::SUCCESS)
            }
            JobCommand::Pause { id } | JobCommand::Resume { id } => {
                let verb = if matches!(command, JobCommand::Pause { .. }) { "pause" } else { "resume" };
                let job: Option<JobDetailView> =
                    client.send(Method::POST, &format!("/api/jobs/{id}/{verb}"), &()).await?;
                if let Some(job) = job {
                    let held = job.summary.counts.count(TargetState::Held);
                    println!("job {id} {verb}d: {held} targets held; {}", counts(&job.summary));
                }
                Ok(ExitCode::SUCCESS)
            }
            JobCommand::Cancel { id } => {
                let job: Option<JobDetailView> =
                    client.send(Method::POST, &format!("/api/jobs/{id}/cancel"), &()).await?;
                if let Some(job) = job {
                    let cancelled = job.summary.counts.count(TargetState::Cancelled);
                    println!("job {id}: {cancelled} targets cancelled; {}", counts(&job.summary));
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn create(client: &Client, args: JobCreateArgs, json: bool) -> Result<ExitCode> {
    let targets = if !args.devices.is_empty() {
        Targets::Devices { macs: args.devices.clone() }
    } else if let Some(name) = &args.group {
        Targets::Group { name: name.clone() }
    } else if args.model.is_some() || args.firmware.is_some() {
        Targets::Query { device_type: args.model.clone(), software_version: args.firmware.clone() }
    } else if args.all {
        Targets::All
    } else {
        bail!("name the targets: --device MAC, --group NAME, --model / --firmware PATTERN, or --all");
    };
    let request = JobRequest {
        items: args.items.clone(),
        contact_me: !args.no_contact_me,
        give_up_after_secs: args.give_up_after,
        confirm_factory_reset: args.confirm_factory_reset,
        allow_unknown: args.allow_unknown,
        files: args.files.clone(),
        allow_downgrade: args.allow_downgrade,
        immediate: args.immediate,
        canary: args.canary.clone(),
        batch_size: args.batch_size,
        max_failures: args.max_failures.clone(),
        ..JobRequest::new(&args.kind, targets)
    };
    let created: Option<JobView> = client.send(Method::POST, "/api/jobs", &request).await?;
    let Some(job) = created else { bail!("empty answer from the server") };
    if json && !args.wait {
        println!("{}", serde_json::to_string_pretty(&job)?);
    } else {
        let targets = crate::output::plural(job.counts.total() as usize, "target");
        eprintln!("job {} created: {} on {} ({targets})", job.id, job.kind.name(), job.targets);
    }
    if args.wait { wait(client, job.id, json).await } else { Ok(ExitCode::SUCCESS) }
}

/// `config set --push`: an apply-configuration job with contact-me for the scope's devices.
/// Pushes a configuration change made at `scope` (as [`crate::ConfigScopeArgs::query`] names
/// it) to its devices now.
pub async fn push_configuration(client: &Client, scope: (String, Option<String>), json: bool) -> Result<()> {
    let targets = match scope {
        (_, None) => Targets::All,
        (kind, Some(name)) if kind == "group" => Targets::Group { name },
        (kind, Some(pattern)) if kind == "model" => {
            Targets::Query { device_type: Some(pattern), software_version: None }
        }
        (_, Some(mac)) => Targets::Devices { macs: vec![mac] },
    };
    push_job(client, targets, json).await
}

/// Creates an apply-configuration job for `targets`: contact-me now instead of waiting for
/// their next contact.
pub async fn push_job(client: &Client, targets: Targets, json: bool) -> Result<()> {
    let request = JobRequest::new("apply-configuration", targets);
    let created: Option<JobView> = client.send(Method::POST, "/api/jobs", &request).await?;
    if let Some(job) = created {
        if json {
            println!("{}", serde_json::to_string_pretty(&job)?);
        }
        let devices = crate::output::plural(job.counts.total() as usize, "device");
        eprintln!("pushed: job {} contacts {devices} (opendls job show {})", job.id, job.id);
    }
    Ok(())
}

/// Follows a job until every target is finished. Exit code 1 when any target failed or timed out.
async fn wait(client: &Client, id: i64, json: bool) -> Result<ExitCode> {
    let live = std::io::stderr().is_terminal();
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let mut said_waits = String::new();
    let job = loop {
        let job: JobDetailView = client.get(&format!("/api/jobs/{id}")).await?;
        let finished = job.summary.counts.is_finished();
        let waits = waits_line(&job);
        if waits != said_waits && !finished {
            // Why it waits goes on its own line, whenever that changes.
            if live {
                eprint!("\r\x1b[2K");
            }
            eprintln!("{waits}");
            said_waits = waits;
        }
        if live {
            eprint!("\r\x1b[2K{}", progress_line(&job.summary));
            let _ = std::io::stderr().flush();
        } else if finished || last_line.elapsed() >= Duration::from_secs(5) {
            eprintln!("{}", progress_line(&job.summary));
            last_line = Instant::now();
        }
        if finished {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if live {
        eprintln!();
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&job)?);
    } else {
        print_job(&job);
    }
    let unsuccessful =
        job.summary.counts.count(TargetState::Failed) + job.summary.counts.count(TargetState::TimedOut);
    Ok(if unsuccessful == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The reasons the unfinished targets wait, most common first, and a plain statement when none
/// of them can move until the phones call in by themselves.
fn waits_line(job: &JobDetailView) -> String {
    let mut reasons: Vec<(usize, &str)> = Vec::new();
    let waits: Vec<&Waiting> = job.targets.iter().filter_map(|t| t.waiting.as_ref()).collect();
    for waiting in &waits {
        match reasons.iter_mut().find(|(_, why)| *why == waiting.why) {
            Some((n, _)) => *n += 1,
            None => reasons.push((1, &waiting.why)),
        }
    }
    reasons.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut lines: Vec<String> =
        reasons.iter().take(3).map(|(n, why)| format!("  waiting ({n}): {why}")).collect();
    if reasons.len() > 3 {
        lines.push(format!(
            "  ... and {} other reasons (opendls job show {})",
            reasons.len() - 3,
            job.summary.id
        ));
    }
    if !waits.is_empty() && waits.iter().all(|w| w.stuck) {
        lines.push(format!(
            "nothing can progress: no contact-me can reach the unfinished targets; the job waits for the \
             phones to call in by themselves and gives up at {} (Ctrl-C stops waiting, not the job)",
            utc_text(job.summary.give_up_at)
        ));
    }
    lines.join("\n")
}

fn progress_line(job: &JobView) -> String {
    const WIDTH: u32 = 30;
    let total = job.counts.total().max(1);
    let finished: u32 = job.counts.iter().filter(|(s, _)| s.is_final()).map(|(_, n)| n).sum();
    let filled = (finished * WIDTH / total) as usize;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH as usize - filled));
    format!("job {} [{bar}] {finished}/{} finished: {}", job.id, job.counts.total(), counts(job))
}

fn counts(job: &JobView) -> String {
    job.counts.iter().map(|(state, n)| format!("{state} {n}")).collect::<Vec<_>>().join(", ")
}

fn print_jobs(jobs: &[JobView]) {
    println!("{:>5}  {:<22}  {:<20}  {:<28}  STATE", "JOB", "KIND", "CREATED", "TARGETS");
    for job in jobs {
        let state = if job.counts.is_finished() { "finished" } else { "running" };
        println!(
            "{:>5}  {:<22}  {:<20}  {:<28}  {state}: {}",
            job.id,
            job.kind.name(),
            utc_text(job.created_at),
            job.targets.to_string(),
            counts(job)
        );
    }
}

fn print_job(job: &JobDetailView) {
    let summary = &job.summary;
    println!("job {}: {} on {}", summary.id, summary.kind.name(), summary.targets);
    if let opendls_engine::JobKind::ReadItems { items } = &summary.kind {
        let names: Vec<String> = items.iter().map(ToString::to_string).collect();
        println!("items: {}", names.join(", "));
    }
    let contact = if summary.contact_me { "contact-me" } else { "at the phones' next contact" };
    println!(
        "created {}, {contact}, gives up {}",
        utc_text(summary.created_at),
        utc_text(summary.give_up_at)
    );
    if let Some(at) = summary.cancelled_at {
        println!("cancelled {}", utc_text(at));
    }
    if let Some(rollout) = &summary.rollout {
        let part = |name: &str, value: Option<String>| value.map(|v| format!("{name} {v}"));
        let parts: Vec<String> = [
            part("canary", rollout.canary.map(|c| c.to_string())),
            part("batches of", rollout.batch_size.map(|b| b.to_string())),
            part("max-failures", rollout.max_failures.map(|m| m.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect();
        println!("rollout: {}", parts.join(", "));
    }
    if let Some(at) = summary.paused_at {
        let reason = summary.paused_reason.as_deref().unwrap_or("paused");
        println!("paused {}: {reason}", utc_text(at));
    }
    println!("targets: {}", counts(summary));
    println!();
    println!("{:<17}  {:<24}  {:<20}  DETAIL", "MAC", "STATE", "UPDATED");
    for target in &job.targets {
        // An unfinished target says why it waits; a finished one what happened.
        let detail = match (&target.waiting, target.state.is_final()) {
            (Some(waiting), _) if !target.detail.is_empty() && target.state == TargetState::Running => {
                format!("{} ({})", target.detail, waiting.why)
            }
            (Some(waiting), _) => waiting.why.clone(),
            (None, _) => target.detail.clone(),
        };
        let state = match target.phase {
            Some(phase) => format!("{} ({phase})", target.state),
            None => target.state.to_string(),
        };
        println!("{:<17}  {state:<24}  {:<20}  {detail}", target.mac, utc_text(target.updated_at));
    }
}
