//! `opendls demo`: a server and a few dozen simulated phones on loopback, to see opendls work in a
//! minute and try the administration commands against it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use opendls_api::{ConfigEntry, DeviceListEntry, DeviceView};
use opendls_phonesim::interaction::Target;
use opendls_phonesim::live::{self, Behaviour, LiveStats};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_server::Config;

use crate::client::Client;
use crate::{Connection, DemoArgs};

/// The simulated phones' contact gap (a real phone's is 300 s).
const DEMO_CONTACT_GAP: Duration = Duration::from_secs(20);

/// Runs the demo until Ctrl-C.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let temporary = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temporary.path().join("data"));
    let mut config = Config { log: "warn".into(), ..Config::loopback(data_dir.clone()) };
    // Real phones ignore contact-me for 300 s after answering one; the simulated ones for
    // DEMO_CONTACT_GAP, so that jobs tried one after another finish in seconds.
    config.jobs.contact_gap_secs = DEMO_CONTACT_GAP.as_secs();
    let server = opendls_server::start(config).await?;
    let admin_url = server.admin_url.clone();
    println!("opendls demo: server on https://{} (admin API {admin_url})", server.phone_addr);
    println!("data directory: {}", data_dir.display());

    let connection = Connection::to(admin_url.clone(), data_dir.clone());
    let client = Client::new(&connection)?;
    for (name, index, value) in [
        ("sntp-addr", None, "time.nist.gov"),
        ("sntp-tz-offset", None, "60"),
        ("daylight-save", None, "true"),
        ("XML-app-name", Some(1), "phonebook"),
        ("XML-app-display-name", Some(1), "Phone book"),
    ] {
        let entry = ConfigEntry {
            scope: "global".into(),
            target: None,
            name: name.into(),
            index,
            value: value.into(),
        };
        let _: Option<opendls_api::ConfigChangeResult> =
            client.send(reqwest::Method::PUT, "/api/config", &entry).await?;
    }
    println!(
        "desired configuration: sntp-addr, sntp-tz-offset, daylight-save and one XML application, for every phone"
    );

    let mut phones = Vec::new();
    for n in 0..args.phones {
        let mut phone = SimPhone::new(PhoneProfile::numbered(n + 1));
        // Every fifth phone is in a call when it boots: it is told to call back when idle (p. 76).
        phone.in_call = n % 5 == 4;
        let behaviour = Behaviour {
            call_duration: Duration::from_secs(4),
            local_change_every: (n % 10 == 0).then_some(Duration::from_secs(20)),
            contact_gap: DEMO_CONTACT_GAP,
            ..Behaviour::default()
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        phones.push(live::spawn(phone, Target::default_mode(server.phone_addr), behaviour).await?);
    }
    println!("{} simulated phones booting ({} of them busy in a call)...", args.phones, args.phones / 5);

    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let devices: Vec<DeviceListEntry> = client.get("/api/devices").await?;
        let mut configured = 0;
        for device in &devices {
            let view: DeviceView = client.get(&format!("/api/devices/{}?history=0", device.mac)).await?;
            configured += usize::from(view.pending.is_empty() && view.inventory_read_at.is_some());
        }
        let busy_done = phones.iter().filter(|p| LiveStats::get(&p.stats.solicited) > 0).count();
        println!(
            "  {:>3} registered, {:>3} configured, {busy_done} busy phones called back",
            devices.len(),
            configured
        );
        if configured == args.phones as usize {
            break;
        }
    }

    let first_mac = PhoneProfile::numbered(1).mac;
    println!();
    println!("Try, in another shell (the data directory tells the commands where the service is):");
    println!("  export OPENDLS_DATA={}", data_dir.display());
    println!("  opendls device list");
    println!("  opendls config set --group sales sntp-tz-offset=120");
    println!("  opendls group assign {first_mac} sales");
    println!("  opendls job create apply-configuration --group sales --wait   # contact-me, done in seconds");
    println!("  opendls device show {first_mac}");
    println!("  opendls job create read-items --item sntp-tz-offset --device {first_mac} --wait");
    println!(
        "  head -c 2000000 /dev/urandom > OS_SIP_V3_R9_0_0.img && opendls firmware add OS_SIP_V3_R9_0_0.img"
    );
    println!("  opendls job create deploy-firmware --file 1 --all --canary 10% --max-failures 2 --wait");
    println!("  opendls security mode secure --global --push     # every phone moves to Secure Mode now");
    println!(
        "These phones ignore contact-me for {} s after answering one (real phones: 300 s); job show says so.",
        DEMO_CONTACT_GAP.as_secs()
    );
    println!("Press Ctrl-C to stop; the temporary data directory is removed.");
    tokio::signal::ctrl_c().await?;
    for phone in phones {
        phone.stop().await;
    }
    server.stop().await;
    Ok(ExitCode::SUCCESS)
}
