//! What only the PostgreSQL backend promises: the phone's hot path costs one round trip to the
//! database for a request's reads and one for a decision's write, counted on the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use opendls_engine::{EngineSettings, InteractionChange, LocalChangePolicy};
use opendls_store::{InteractionLookup, PhoneStore, PostgresStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::backend::postgres_url;
use crate::phone::{read_reply, start_up};

/// Round trips seen by a [`relay`]: each time the store writes after an answer reached it.
#[derive(Clone, Default)]
struct Flights(Arc<AtomicUsize>);

impl Flights {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP relay between the store and PostgreSQL that counts [`Flights`]. Answers are held back
/// 20 ms, so requests the driver writes in one go count as one flight however they fall into
/// TCP segments, and a store that waits for an answer before writing more counts twice.
async fn relay(database: String) -> (String, Flights) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let flights = Flights::default();
    let counted = flights.clone();
    tokio::spawn(async move {
        while let Ok((store_side, _)) = listener.accept().await {
            let database_side = TcpStream::connect(&database).await.unwrap();
            tokio::spawn(carry(store_side, database_side, counted.clone()));
        }
    });
    (address, flights)
}

/// Carries one connection both ways until either side closes it.
async fn carry(store_side: TcpStream, database_side: TcpStream, flights: Flights) {
    let (mut from_store, mut to_store) = store_side.into_split();
    let (mut from_database, mut to_database) = database_side.into_split();
    let answered = Arc::new(AtomicBool::new(true));
    let heard = answered.clone();
    let requests = async move {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = from_store.read(&mut buffer).await {
            if heard.swap(false, Ordering::SeqCst) {
                flights.0.fetch_add(1, Ordering::SeqCst);
            }
            if to_database.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    let answers = async move {
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(read @ 1..) = from_database.read(&mut buffer).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if to_store.write_all(&buffer[..read]).await.is_err() {
                break;
            }
            answered.store(true, Ordering::SeqCst);
        }
    };
    tokio::select! { () = requests => {}, () = answers => {} }
}

/// `url` with its `host:port` replaced by `address`; the replaced `host:port`.
fn redirected(url: &str, address: &str) -> (String, String) {
    let start = url.find('@').expect("the test server's address is a postgres:// URL with a user") + 1;
    let end = start + url[start..].find('/').expect("the URL names a database");
    let original = url[start..end].to_owned();
    let original = if original.contains(':') { original } else { format!("{original}:5432") };
    (format!("{}{address}{}", &url[..start], &url[end..]), original)
}

/// One phone message as the phone endpoint handles it, with the flights of its read and of its
/// write counted apart.
async fn counted_step(
    store: &PostgresStore,
    flights: &Flights,
    message: opendls_wpi::WorkpointMessage,
    session: Option<&str>,
    now: i64,
) -> (usize, usize, opendls_engine::Decision) {
    let lookup = session.map(|session| InteractionLookup {
        session_id: Some(session.to_owned()),
        remote_addr: "127.0.0.1".into(),
        not_before: now - 300,
        // As the phone endpoint does: its session ids begin with the device's MAC.
        device_hint: opendls_engine::normalize_mac(&session[..12]),
    });
    let (reason, reported) = (message.reason.reason.clone(), message.value("mac-addr").map(str::to_owned));
    let before = flights.count();
    let request = store
        .request_context(lookup, None, move |found| {
            opendls_engine::device_mac_of(&reason, reported.as_deref(), found)
        })
        .await
        .unwrap();
    let reads = flights.count() - before;
    let mac = request.mac.clone().expect("the device is told");
    let session_id = format!("{}{now:020X}", mac.replace(':', ""));
    let input = request.context.into_input(
        message,
        request.interaction,
        now,
        "127.0.0.1".into(),
        session_id,
        LocalChangePolicy::default(),
    );
    let decision = opendls_engine::decide(&input, &EngineSettings::default()).decision().unwrap();
    let before = flights.count();
    store.apply(decision.clone(), now).await.unwrap();
    (reads, flights.count() - before, decision)
}

#[tokio::test]
async fn a_request_reads_in_one_round_trip_and_a_decision_writes_in_one() {
    let Some(url) = postgres_url() else { return };
    let (scoped, _keep) = opendls_store::postgres::testing::scratch_schema(&url).await;
    let (relay_address, flights) = {
        let (_, database) = redirected(&scoped, "");
        relay(database).await
    };
    let (through_relay, _) = redirected(&scoped, &relay_address);
    let dir = tempfile::tempdir().unwrap();
    let keys = opendls_store::secrets::SecretKeys::load_or_create(&dir.path().join("secrets.key")).unwrap();
    // One connection: its statements are prepared at their first use, once.
    let store = PostgresStore::open(&through_relay, keys, 1).await.unwrap();
    let mut flights_per_round = Vec::new();
    for round in 0..3 {
        let now = 1000 + 10 * round;
        // A new phone each round: it is read whole.
        let mut start = start_up();
        start.items.retain(|item| item.name != "mac-addr");
        let mac = format!("00:1A:E8:00:00:0{round}");
        start.items.push(opendls_wpi::Item::new("mac-addr", &mac));
        let (start_reads, start_writes, first) = counted_step(&store, &flights, start, None, now).await;
        let InteractionChange::Start(state) = first.interaction else { panic!("no interaction started") };
        assert_eq!(state.mac, mac);
        // A reply without `mac-addr` (as a WriteItems reply is, guide p. 48): the session says whose.
        let mut items = start_up().items;
        items.retain(|item| item.name != "mac-addr");
        let (reply_reads, reply_writes, _) =
            counted_step(&store, &flights, read_reply(items), Some(&state.session_id), now + 1).await;
        flights_per_round.push([start_reads, start_writes, reply_reads, reply_writes]);
    }
    // The first round prepares the statements; after that, every step is one flight.
    assert_eq!(flights_per_round[2], [1, 1, 1, 1], "flights per round: {flights_per_round:?}");
    assert!(flights_per_round[0].iter().sum::<usize>() > 4, "the relay counts: {flights_per_round:?}");
}
