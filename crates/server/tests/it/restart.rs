//! Interaction state lives in the store: a server restart mid-interaction loses nothing.

use opendls_wpi::{Action, Item};

use crate::support::*;

#[tokio::test]
async fn a_restart_in_the_middle_of_an_interaction() {
    let mut server = TestServer::start().await;
    let body = r#"{"scope":"global","name":"sntp-addr","value":"time.nist.gov"}"#;
    assert_eq!(server.admin("PUT", "/api/config", Some(body)).await.status, 200);
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    assert_eq!(first.dls().action, Action::ReadAllItems);
    let session = first.session().unwrap();

    server.restart().await;

    let read = reply_with("ReadAllItems", "R1", "final", &inventory("00:01:E3:00:A9:F3", &[]));
    let write = phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls();
    assert_eq!(write.action, Action::WriteItems, "the interaction continued after the restart");
    assert_eq!(write.items, vec![Item::new("sntp-addr", "time.nist.gov")]);
}
