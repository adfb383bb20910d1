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

    // Resume: the failures so far are accepted; batches of 20 finish the job. Five phones of
    // the next batch are in a call: they refuse (busy, p. 56), wait, and are tried again.
    for phone in &phones[5..10] {
        phone.start_call(Duration::from_secs(4)).await;
    }
    server.admin_json("POST", &format!("/api/jobs/{id}/resume"), None, 200).await;
    until(&server, id, Duration::from_secs(20), |job| count(job, "waiting-busy") > 0).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_pin_brings_its_models_phones_to_the_version_one_at_a_time_without_loops() {
    let server = TestServer::start_with(|config| {
        quick_jobs(config);
        config.jobs.max_concurrent_deployments = 1;
    })
    .await;
    // Numbered phones cycle over five models: 3, 8, 13 and 18 are OpenStage 60s.
    let mut phones = spawn_phones(&server, 1..19, &behaviour()).await;
    let broken = Behaviour {
        manner: opendls_phonesim::interaction::Manner { fail_downloads: true, ..Default::default() },
        ..behaviour()
    };
    phones
        .push(live::spawn(SimPhone::new(PhoneProfile::numbered(23)), target(&server), broken).await.unwrap());
    until_booted(&phones).await;
    let image = "f".repeat(100_000);
    let path = "/api/files?kind=firmware&name=OS_60_SIP_V3_R6_0_0.img&models=OpenStage%2060";
    server.admin_json("POST", path, Some(&image), 201).await;
    let refused = server
        .admin(
            "PUT",
            "/api/firmware/pins",
            Some(&json!({"model": "OpenStage 80", "version": "V3R6.0.0"}).to_string()),
        )
        .await;
    assert_eq!(refused.status, 404, "no image of that version for the model: {}", refused.text());
    let pin = json!({"model": "OpenStage 60", "version": "V3R6.0.0"}).to_string();
    let pinned = server.admin_json("PUT", "/api/firmware/pins", Some(&pin), 200).await;
    let id = pinned["job_id"].as_i64().unwrap();

    // One deployment in flight at a time; the four good OpenStage 60s end on the version.
    let done = until(&server, id, Duration::from_secs(90), |job| {
        let active =
            ["queued", "contacting", "running", "waiting-busy"].iter().map(|s| count(job, s)).sum::<u64>();
        assert!(active <= 1, "max_concurrent_deployments = 1: {job:#}");
        count(job, "done") == 4 && count(job, "failed") == 1
    })
    .await;
    let macs: Vec<&str> =
        done["targets"].as_array().unwrap().iter().map(|t| t["mac"].as_str().unwrap()).collect();
    for n in [3, 8, 13, 18] {
        let mac = PhoneProfile::numbered(n).mac;
        assert!(macs.contains(&mac.as_str()), "{mac} in {macs:?}");
        let view = server.admin_json("GET", &format!("/api/devices/{mac}"), None, 200).await;
        assert_eq!(view["device"]["software_version"], "V3 R6.0.0");
    }
    assert_eq!(macs.len(), 5, "only the OpenStage 60s: {macs:?}");
    // The failed phone waits out the hold-off: it is not sent the image again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = job(&server, id).await;
    let failed = later["targets"].as_array().unwrap().iter().find(|t| t["state"] == "failed").unwrap();
    assert_eq!(failed["mac"], PhoneProfile::numbered(23).mac.as_str());
    assert_eq!(
        failed["updated_at"],
        done["targets"].as_array().unwrap().iter().find(|t| t["state"] == "failed").unwrap()["updated_at"]
    );

    let pins = server.admin_json("GET", "/api/firmware/pins", None, 200).await;
    assert_eq!(pins[0]["version"], "V3 R6.0.0");
    let image = pins[0]["file_id"].as_i64().unwrap();
    let refused = server.admin("DELETE", &format!("/api/files/{image}"), None).await;
    assert_eq!(refused.status, 409, "a pinned image stays");
    assert!(refused.text().contains("pinned for OpenStage 60"), "{}", refused.text());
    server.admin_json("DELETE", "/api/firmware/pins?model=OpenStage%2060", None, 200).await;
    let removed = job(&server, id).await;
    assert!(!removed["summary"]["cancelled_at"].is_null());
}
