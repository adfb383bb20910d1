//! Unit tests of the phone endpoint: cookies, nonces, admission, session ids.

use super::*;
use opendls_wpi::Action;

#[test]
fn cookies_are_found_among_echoed_attributes() {
    let mut headers = hyper::HeaderMap::new();
    headers.insert(header::COOKIE, HeaderValue::from_static("JSESSIONID=ABC123; path=/DeploymentService"));
    assert_eq!(session_cookie(&headers).as_deref(), Some("ABC123"));
    headers.insert(header::COOKIE, HeaderValue::from_static("other=1; jsessionid=\"DEF\""));
    assert_eq!(session_cookie(&headers).as_deref(), Some("DEF"));
    headers.insert(header::COOKIE, HeaderValue::from_static("JSESSIONID=bad value!"));
    assert_eq!(session_cookie(&headers), None);
}

#[test]
fn nonces_are_salvaged_from_broken_bodies() {
    assert_eq!(salvage_nonce(br#"<WorkpointMessage><Message nonce="AB12"><broken"#), "AB12");
    assert_eq!(salvage_nonce(b"garbage"), "");
    assert_eq!(salvage_nonce(br#"nonce="x<script>""#), "x");
}

#[tokio::test]
async fn new_interactions_past_the_limit_are_told_overload_until_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(opendls_store::SqliteStore::open(&dir.path().join("db")).await.unwrap());
    let mut config = Config::default();
    config.limits.max_interactions_in_flight = 1;
    // Told at once, not held for a slot (admission/queue.rs tests the wait).
    config.limits.admission_wait_millis = 0;
    let endpoint = PhoneEndpoint::new(store, &config);
    let remote: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let start_up = |mac: &str| {
        format!(
            "<WorkpointMessage><Message nonce=\"N-{mac}\"><ReasonForContact>start-up</ReasonForContact>\
             <ItemList><Item name=\"mac-addr\">{mac}</Item></ItemList></Message></WorkpointMessage>"
        )
    };
    let (first, session) =
        endpoint.answer(start_up("00:1A:E8:00:00:01").as_bytes(), None, remote, Instant::now()).await;
    assert_eq!(first.action, Action::ReadAllItems);
    let (refused, cookie) =
        endpoint.answer(start_up("00:1A:E8:00:00:02").as_bytes(), None, remote, Instant::now()).await;
    assert_eq!(refused, DlsMessage::clean_up_because("N-00:1A:E8:00:00:02", OVERLOAD_REASON));
    assert_eq!(cookie, None);

    // The admitted interaction runs to its end, which frees the slot.
    let reply = "<WorkpointMessage><Message nonce=\"R\"><ReasonForContact action=\"ReadAllItems\" status=\"accepted\">reply-to</ReasonForContact></Message></WorkpointMessage>";
    let (done, _) = endpoint.answer(reply.as_bytes(), session.as_deref(), remote, Instant::now()).await;
    assert_eq!(done, DlsMessage::new("R", Action::CleanUp));
    let (second, _) =
        endpoint.answer(start_up("00:1A:E8:00:00:02").as_bytes(), None, remote, Instant::now()).await;
    assert_eq!(second.action, Action::ReadAllItems);
}

#[test]
fn session_ids_are_long_and_distinct() {
    let (a, b) = (new_session_id(Some("00:1A:E8:00:00:01")), new_session_id(Some("00:1A:E8:00:00:01")));
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()), "{a}");
    assert_ne!(a, b);
    assert_eq!(device_named_by_session(&a).as_deref(), Some("00:1A:E8:00:00:01"));
    let unknown = new_session_id(None);
    assert_eq!((unknown.len(), device_named_by_session(&unknown)), (32, None));
    assert_eq!(device_named_by_session("PHPSESSID"), None, "a cookie of another form names nothing");
}
