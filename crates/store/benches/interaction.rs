//! Where a first-contact interaction's server time goes, without TLS or HTTP: the engine alone,
//! and the engine with the SQLite store (find the interaction, load the device context, persist
//! the decision) for the three requests start-up -> ReadAllItems -> WriteItems -> CleanUp. Run with
//! `cargo bench -p opendls-store --bench interaction`; compare with the server CPU per interaction
//! that `opendls bench storm` prints.

use std::sync::atomic::{AtomicU32, Ordering};

use divan::Bencher;
use opendls_engine::{
    DesiredEntry, EngineSettings, Input, InteractionChange, ItemKey, LocalChangePolicy, Scope, decide,
};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_store::{AdminStore, DeviceContext, InteractionLookup, PhoneStore, SqliteStore};
use opendls_wpi::{Action, Fragment, Item, Reason, ReasonForContact, ReplyStatus, WorkpointMessage};

fn main() {
    divan::main();
}

static NEXT_PHONE: AtomicU32 = AtomicU32::new(1);

fn desired() -> Vec<DesiredEntry> {
    (0..20)
        .map(|n| DesiredEntry {
            scope: Scope::Global,
            key: ItemKey::new(format!("bench-item-{n}"), None),
            value: "v".into(),
        })
        .collect()
}

/// The three phone messages of a first contact, for a new phone.
fn messages() -> (WorkpointMessage, WorkpointMessage, WorkpointMessage) {
    let mut phone = SimPhone::new(PhoneProfile::numbered(NEXT_PHONE.fetch_add(1, Ordering::Relaxed)));
    let start = phone.contact(Reason::StartUp, &[]);
    let all: Vec<Item> = opendls_phonesim::items::realistic_items(&phone.profile);
    let reply = |action, items| WorkpointMessage {
        nonce: "R".into(),
        max_items: Some(-1),
        fragment: Some(Fragment::Final),
        reason: ReasonForContact::reply_to(action, ReplyStatus::Accepted),
        items,
    };
    (start, reply(Action::ReadAllItems, all), reply(Action::WriteItems, Vec::new()))
}

fn input(
    message: WorkpointMessage,
    context: DeviceContext,
    interaction: Option<opendls_engine::InteractionState>,
) -> Input {
    context.into_input(
        message,
        interaction,
        1_700_000_000,
        "127.0.0.1".into(),
        "S".into(),
        LocalChangePolicy::default(),
    )
}

#[divan::bench]
fn engine_only(bencher: Bencher) {
    let settings = EngineSettings::default();
    bencher.with_inputs(messages).bench_values(|(start, read, write)| {
        let context = DeviceContext { desired: desired(), ..DeviceContext::default() };
        let first = decide(&input(start, context.clone(), None), &settings)
            .decision()
            .expect("no outside needs in this test");
        let InteractionChange::Start(state) = first.interaction else { panic!("no interaction") };
        let context = DeviceContext { device: first.device, ..context };
        let second = decide(&input(read, context.clone(), Some(state)), &settings)
            .decision()
            .expect("no outside needs in this test");
        let InteractionChange::Continue(state) = second.interaction else { panic!("no write") };
        let context = DeviceContext { device: second.device, ..context };
        decide(&input(write, context, Some(state)), &settings)
            .decision()
            .expect("no outside needs in this test")
    });
}

#[divan::bench]
fn engine_and_sqlite(bencher: Bencher) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(SqliteStore::open(&dir.path().join("bench.db"))).unwrap();
    for entry in desired() {
        runtime.block_on(store.set_desired(std::slice::from_ref(&entry), 0)).unwrap();
    }
    let settings = EngineSettings::default();
    bencher.with_inputs(messages).bench_values(|(start, read, write)| {
        runtime.block_on(async {
            let mac = start.value("mac-addr").unwrap().to_owned();
            let mut session = None;
            for message in [start, read, write] {
                // As the phone endpoint reads: interaction and device in one hand-off.
                let continues = message.reason.reason == Reason::ReplyTo;
                let lookup = continues.then(|| InteractionLookup {
                    session_id: session.clone(),
                    remote_addr: "127.0.0.1".into(),
                    not_before: 0,
                    device_hint: None,
                });
                let mac = mac.clone();
                let request = store.request_context(lookup, None, move |_| Some(mac.clone())).await.unwrap();
                let decision = decide(&input(message, request.context, request.interaction), &settings)
                    .decision()
                    .expect("no outside needs in this test");
                if let InteractionChange::Start(state) = &decision.interaction {
                    session = Some(state.session_id.clone());
                }
                store.apply(decision, 1_700_000_000).await.unwrap();
            }
        })
    });
}
