//! Staged rollouts with live simulated phones: a firmware image to 50 phones, a 10% canary in
//! which 3 downloads fail, the job pausing itself at its threshold, and a resume that finishes it.

use std::time::{Duration, Instant};

use opendls_phonesim::live::{self, Behaviour};
use opendls_phonesim::{PhoneProfile, SimPhone};
use serde_json::{Value, json};

use crate::jobs::{behaviour, spawn_phones, target, until_booted};
use crate::support::{TestServer, quick_jobs, until_finished};

async fn job(server: &TestServer, id: i64) -> Value {
    server.admin_json("GET", &format!("/api/jobs/{id}"), None, 200).await
}

async fn until(
    server: &TestServer,
    id: i64,
    within: Duration,
    mut check: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job = job(server, id).await;
        if check(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never got there: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Targets in a state, of a job (`{summary, targets}`) or a job summary.
fn count(job: &Value, state: &str) -> u64 {
    let summary = if job["summary"].is_null() { job } else { &job["summary"] };
    summary["counts"][state].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_failed_downloads_pauses_the_rollout_and_resume_finishes_it() {
    let server = TestServer::start_with(quick_jobs).await;
    // Phones 1-3 sort first by MAC, so they are in the canary; their downloads fail.
    let broken = Behaviour {
        manner: opendls_phonesim::interaction::Manner { fail_downloads: true, ..Default::default() },
        ..behaviour()
    };
    let mut phones = Vec::new();
    for n in 1..4 {
        let phone = SimPhone::new(PhoneProfile::numbered(n));
        phones.push(live::spawn(phone, target(&server), broken.clone()).await.unwrap());
    }
    phones.extend(spawn_phones(&server, 4..51, &behaviour()).await);
    until_booted(&phones).await;
    let image = "x".repeat(200_000);
    let stored = server
        .admin_json("POST", "/api/files?kind=firmware&name=OS_SIP_V3_R9_0_0.img", Some(&image), 201)
        .await;
    let request = json!({
        "kind": "deploy-firmware", "files": [stored["id"].to_string()], "targets": {"by": "all"},
        "canary": "10%", "batch_size": 20, "max_failures": "2",
    });
    let created = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!((count(&created, "queued"), count(&created, "held")), (5, 45), "{created:#}");

    // The third failure passes max-failures 2: the job pauses and the rest stays held.
    let paused =
        until(&server, id, Duration::from_secs(60), |job| !job["summary"]["paused_at"].is_null()).await;
    let reason = paused["summary"]["paused_reason"].as_str().unwrap();
    assert!(reason.contains("more than max-failures 2"), "{reason}");
    let settled =
        until(&server, id, Duration::from_secs(30), |job| count(job, "done") + count(job, "failed") == 5)
            .await;
    assert_eq!((count(&settled, "failed"), count(&settled, "held")), (3, 45), "{settled:#}");
    let failed: Vec<&Value> =
        settled["targets"].as_array().unwrap().iter().filter(|t| t["state"] == "failed").collect();
    assert!(
        failed.iter().all(|t| t["detail"].as_str().unwrap().contains("file-deployment-status failed")),
        "{failed:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&job(&server, id).await, "held"), 45, "nothing is released while paused");

    // Resume: the failures so far are accepted; batches of 20 finish the job.
    server.admin_json("POST", &format!("/api/jobs/{id}/resume"), None, 200).await;
    let finished = until_finished(&server, id, Duration::from_secs(120)).await;
    assert_eq!((count(&finished, "done"), count(&finished, "failed")), (47, 3), "{finished:#}");
    // A done phone runs the image; a failed one was not sent it again.
    let done = finished["targets"].as_array().unwrap().iter().find(|t| t["state"] == "done").unwrap();
    let view =
        server.admin_json("GET", &format!("/api/devices/{}", done["mac"].as_str().unwrap()), None, 200).await;
    assert_eq!(view["device"]["software_version"], "V3 R9.0.0");
    let resumed_again = server.admin("POST", &format!("/api/jobs/{id}/resume"), None).await;
    assert_eq!(resumed_again.status, 409, "{}", resumed_again.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_file_used_by_an_unfinished_job_is_not_removed() {
    let server = TestServer::start_with(quick_jobs).await;
    let phones = spawn_phones(&server, 1..2, &behaviour()).await;
    until_booted(&phones).await;
    let stored = server
        .admin_json("POST", "/api/files?kind=file&type=LOGO&name=logo.png", Some(&"p".repeat(1000)), 201)
        .await;
    let file = stored["id"].as_i64().unwrap();
    // Paused right away, the job keeps its target held and the file in use.
    let request = json!({"kind": "deploy-file", "files": [file.to_string()], "targets": {"by": "all"}, "contact_me": false});
    let created = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    let id = created["id"].as_i64().unwrap();
    server.admin_json("POST", &format!("/api/jobs/{id}/pause"), None, 200).await;
    assert_eq!(count(&job(&server, id).await, "held"), 1);
    let refused = server.admin("DELETE", &format!("/api/files/{file}"), None).await;
    assert_eq!(refused.status, 409);
    assert!(refused.text().contains(&format!("unfinished job {id}")), "{}", refused.text());
    server.admin_json("POST", &format!("/api/jobs/{id}/cancel"), None, 200).await;
    server.admin_json("DELETE", &format!("/api/files/{file}"), None, 200).await;
}
