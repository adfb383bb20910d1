//! Issue 16's proof, end to end: a site of 500 phones described once (a CSV with per-device
//! variables, templates, groups, a layout for two models), prepared before the phones exist,
//! bound by MAC and by E.164, a stranger quarantined then approved, a conflict refused, and a
//! dry run (`config diff`) that names exactly what each phone then receives. Administration goes
//! through the built binary; the phones are the simulator over TLS.

use std::collections::{BTreeMap, BTreeSet};

use opendls_engine::UnknownDevicePolicy;
use opendls_phonesim::interaction::{Manner, Target, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::{Item, Reason};
use serde_json::Value;

use crate::support::{Service, service_with, stderr, stdout};

const SITE: u32 = 500;
/// Phones 1-400 are prepared by MAC, 401-500 by the number they report.
const BY_MAC: u32 = 400;

/// What each phone's value should be, by item (`name` or `name[index]`).
type Values = BTreeMap<String, String>;

fn label(item: &Item) -> String {
    match item.index {
        Some(index) => format!("{}[{index}]", item.name),
        None => item.name.clone(),
    }
}

fn run(service: &Service, args: &[&str]) -> String {
    let done = service.opendls(args);
    assert!(done.status.success(), "opendls {args:?}: {}", stderr(&done));
    stdout(&done)
}

fn json(service: &Service, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&run(service, &args)).unwrap()
}

/// Every phone contacts the service once with `reason`, sixteen at a time; what each stored.
fn contact_all(service: &Service, phones: Vec<SimPhone>, reason: Reason) -> Vec<(SimPhone, Vec<Item>)> {
    let target = Target::default_mode(service.server.phone_addr);
    service.runtime.block_on(async {
        let mut done = Vec::new();
        let mut phones = phones.into_iter();
        loop {
            let mut batch = tokio::task::JoinSet::new();
            for mut phone in phones.by_ref().take(16) {
                let (target, reason) = (target.clone(), reason.clone());
                batch.spawn(async move {
                    let first = phone.contact(reason, &[]);
                    let outcome = run_interaction(&mut phone, &target, first, &Manner::default()).await;
                    let outcome = outcome.unwrap_or_else(|e| panic!("{}: {e:?}", phone.profile.mac));
                    (phone, outcome.writes)
                });
            }
            if batch.is_empty() {
                break;
            }
            while let Some(result) = batch.join_next().await {
                done.push(result.unwrap());
            }
        }
        done.sort_by_key(|(phone, _)| phone.profile.mac.clone());
        done
    })
}

/// The values `config diff` says each device is sent at its next contact.
fn diff_by_device(service: &Service) -> BTreeMap<String, Values> {
    let diff = json(service, &["config", "diff", "--limit", "10000"]);
    diff["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| {
            let sent = device["writes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| w["held"].is_null())
                .map(|w| {
                    let name = w["name"].as_str().unwrap();
                    let item = match w["index"].as_u64() {
                        Some(index) => format!("{name}[{index}]"),
                        None => name.to_owned(),
                    };
                    (item, w["value"].as_str().unwrap().to_owned())
                })
                .collect();
            (device["mac"].as_str().unwrap().to_owned(), sent)
        })
        .collect()
}

fn received(writes: &[Item]) -> Values {
    writes.iter().map(|item| (label(item), item.value.clone())).collect()
}

#[test]
fn a_site_of_500_phones_comes_up_from_a_csv_as_the_dry_run_said() {
    let service = service_with(|config| {
        config.protocol.unknown_devices = UnknownDevicePolicy::Quarantine;
        config.protocol.unknown_device_group = Some("new".into());
    });
    let dir = tempfile::tempdir().unwrap();
    let profiles: Vec<PhoneProfile> = (1..=SITE).map(PhoneProfile::numbered).collect();

    // The site, described once: a CSV, templates, groups, a layout for two models.
    let mut csv = String::from("mac,e164,group,var.name,var.room\n");
    for (n, profile) in (1..=SITE).zip(&profiles) {
        let (mac, number) = match n <= BY_MAC {
            true => (profile.mac.as_str(), format!("4930{n:05}")),
            false => ("", profile.e164.clone()),
        };
        let groups = if n % 2 == 0 { "berlin" } else { "munich;lobby" };
        csv.push_str(&format!("{mac},{number},{groups},\"User {n}\",R{n}\n"));
    }
    let file = dir.path().join("site.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_str().unwrap();
    assert!(
        stderr(&service.opendls(&["device", "import", file, "--dry-run"]))
            .contains("500 devices would be prepared")
    );
    run(&service, &["device", "import", file]);
    run(
        &service,
        &[
            "config",
            "set",
            "--global",
            "sip-user-id={{device.e164}}",
            "display-id-unicode={{device.var.name}}",
        ],
    );
    run(&service, &["config", "set", "--group", "berlin", "sntp-addr=ntp.berlin"]);
    run(&service, &["config", "set", "--group", "munich", "sntp-tz-offset=60"]);
    run(&service, &["config", "set", "--group", "lobby", "sntp-tz-offset=120", "sntp-addr=ntp.lobby"]);
    let layout = dir.path().join("reception.toml");
    std::fs::write(
        &layout,
        "name = \"reception\"\n\
         [[key]]\nkey = 1\nfunction = \"blf\"\nlabel = \"{{device.var.room}}\"\ntarget = \"4930100\"\n\
         [[key]]\nkey = 8\nfunction = \"repeat-dialling\"\nlabel = \"Redial\"\n",
    )
    .unwrap();
    let layout = layout.to_str().unwrap();
    for model in ["OpenStage 60", "OpenStage 80"] {
        run(&service, &["layout", "apply", layout, "--model", model]);
    }
    let refused = service.opendls(&["layout", "apply", layout, "--model", "OpenStage 40"]);
    assert_eq!(refused.status.code(), Some(1), "an OpenStage 40 has keys 1-6");

    // The phones come up: every one bound and configured at its first contact.
    let mut phones: Vec<SimPhone> = profiles.iter().cloned().map(SimPhone::new).collect();
    let mut stranger = PhoneProfile::numbered(SITE + 1);
    stranger.e164 = "4940000001".into();
    phones.push(SimPhone::new(stranger.clone()));
    let booted = contact_all(&service, phones, Reason::StartUp);
    let mut claimant = PhoneProfile::numbered(SITE + 2);
    claimant.e164 = profiles[449].e164.clone(); // phone 450's number, bound already
    let late = contact_all(&service, vec![SimPhone::new(claimant.clone())], Reason::StartUp);
    for (n, (phone, writes)) in (1..=SITE + 1).zip(&booted) {
        let value = |name: &str, index: Option<u32>| phone.value(name, index).map(str::to_owned);
        if n > SITE {
            assert!(writes.is_empty(), "a quarantined stranger is written nothing: {writes:?}");
            continue;
        }
        let number = if n <= BY_MAC { format!("4930{n:05}") } else { phone.profile.e164.clone() };
        assert_eq!(value("e164", None), Some(number.clone()), "phone {n}");
        assert_eq!(value("sip-user-id", None), Some(number), "phone {n}: template with the prepared number");
        assert_eq!(value("display-id-unicode", None), Some(format!("User {n}")), "phone {n}");
        let (addr, offset) = if n % 2 == 0 { ("ntp.berlin", "0") } else { ("ntp.lobby", "60") };
        assert_eq!(
            value("sntp-addr", None).as_deref(),
            Some(addr),
            "phone {n}: the first group wins, then the next"
        );
        if n % 2 == 1 {
            assert_eq!(
                value("sntp-tz-offset", None).as_deref(),
                Some(offset),
                "phone {n}: munich before lobby"
            );
        }
        let laid_out = matches!(phone.profile.model.as_str(), "OpenStage 60" | "OpenStage 80");
        assert_eq!(
            value("function-key-def", Some(1)).as_deref() == Some("59"),
            laid_out,
            "phone {n} {}",
            phone.profile.model
        );
        if laid_out {
            assert_eq!(
                value("key-label-unicode", Some(1)),
                Some(format!("R{n}")),
                "phone {n}: rendered label"
            );
        }
    }
    assert!(late[0].1.is_empty(), "the second claim of one number is written nothing");

    // Bound by MAC and by number; the stranger and the claimant wait; the conflict is shown.
    let prepared = json(&service, &["device", "provisioned"]);
    let prepared = prepared.as_array().unwrap();
    assert_eq!(
        prepared.iter().filter(|p| !p["bound"].is_null()).count(),
        SITE as usize,
        "every prepared device bound"
    );
    let claimed = prepared.iter().find(|p| p["e164"] == profiles[449].e164.as_str()).unwrap();
    assert_eq!(claimed["bound"][0], profiles[449].mac.as_str(), "bound to the first phone, never guessed");
    assert!(claimed["conflict"].as_str().unwrap().contains(&claimant.mac), "{claimed}");
    let pending = json(&service, &["device", "list", "--pending"]);
    let pending: BTreeSet<&str> =
        pending.as_array().unwrap().iter().map(|d| d["mac"].as_str().unwrap()).collect();
    assert_eq!(pending, BTreeSet::from([stranger.mac.as_str(), claimant.mac.as_str()]));
    run(&service, &["device", "approve", &stranger.mac]);

    // A change, previewed, then received: what config diff names is exactly what each phone gets.
    run(&service, &["config", "set", "--group", "berlin", "sntp-addr=ntp2.berlin"]);
    run(&service, &["var", "set", "--device", &profiles[2].mac, "name=Carol"]);
    let dry =
        service.opendls(&["config", "set", "--model", "OpenStage 80", "sntp-tz-offset=30", "--dry-run"]);
    assert!(stderr(&dry).contains("would be affected"), "{}", stderr(&dry));
    run(&service, &["config", "set", "--model", "OpenStage 80", "sntp-tz-offset=30"]);
    let expected = diff_by_device(&service);
    let claimant_writes = json(&service, &["config", "diff", &claimant.mac]);
    assert!(claimant_writes["writes_total"] == 0, "a pending device is sent nothing: {claimant_writes}");
    let phones: Vec<SimPhone> =
        booted.into_iter().map(|(phone, _)| phone).chain(late.into_iter().map(|(p, _)| p)).collect();
    let again = contact_all(&service, phones, Reason::LocalChanges);
    let mut compared = 0;
    for (phone, writes) in &again {
        let mac = &phone.profile.mac;
        let wanted = expected.get(mac).cloned().unwrap_or_default();
        assert_eq!(received(writes), wanted, "{mac} ({}): received vs config diff", phone.profile.model);
        compared += usize::from(!wanted.is_empty());
    }
    assert!(compared > 250, "{compared} phones had something to receive");
    let approved = &again.iter().find(|(p, _)| p.profile.mac == stranger.mac).unwrap().1;
    assert!(received(approved).contains_key("sip-user-id"), "approved: configured at its next contact");
    let after = json(&service, &["config", "diff"]);
    assert_eq!(after["writes_total"], 0, "nothing is left to send: {after:#}");
}
