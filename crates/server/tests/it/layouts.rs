//! Function-key layouts: rendered per model by the engine, refused where a key does not exist,
//! and what the phones of each model receive.

use serde_json::{Value, json};

use crate::jobs::{behaviour, spawn_phones, until_booted};
use crate::support::TestServer;

fn reception() -> Value {
    json!({"name": "reception", "key": [
        {"key": 1, "function": "blf", "label": "Boss", "target": "{{device.var.boss}}", "audible": true},
        {"key": 2, "function": "selected-dialling", "label": "Helpdesk", "number": "4930100"},
        {"key": 8, "function": "repeat-dialling", "shifted": true, "label": "Redial"},
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_reaches_the_models_it_fits_and_is_refused_where_it_does_not() {
    let server = TestServer::start().await;
    let apply = |model: &str, layout: Value| json!({"layout": layout, "model": model}).to_string();

    // An OpenStage 40 has keys 1-6 (guide p. 120): key 8 does not fit, nothing is stored.
    let refused = server.admin("POST", "/api/layouts/apply", Some(&apply("OpenStage 40", reception()))).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    let body: Value = serde_json::from_str(&refused.text()).unwrap();
    assert_eq!(
        body["problems"],
        json!(["OpenStage 40: shifted key 8: OpenStage 40 has programmable keys 1-6 (guide p. 120)"])
    );
    let wildcard = server.admin("POST", "/api/layouts/apply", Some(&apply("OpenStage *", reception()))).await;
    assert_eq!(wildcard.status, 422, "every model a pattern names must fit: {}", wildcard.text());
    assert_eq!(server.admin_json("GET", "/api/config", None, 200).await, json!([]), "nothing half-applied");

    for model in ["OpenStage 60", "OpenStage 80"] {
        let applied =
            server.admin_json("POST", "/api/layouts/apply", Some(&apply(model, reception())), 200).await;
        assert_eq!(applied["values"].as_array().unwrap().len(), 9, "{applied:#}");
        assert_eq!(applied["models"], json!([model]));
    }
    let ninth = json!({"name": "ninth", "key": [{"key": 9, "function": "do-not-disturb", "label": "DND"}]});
    server.admin_json("POST", "/api/layouts/apply", Some(&apply("OpenStage 80", ninth)), 200).await;
    for mac in ["00:1A:E8:00:00:03", "00:1A:E8:00:00:04"] {
        let boss =
            json!({"scope": "device", "target": mac, "values": [{"name": "boss", "value": "4930777"}]});
        server.admin_json("PUT", "/api/variables", Some(&boss.to_string()), 200).await;
    }

    let phones = spawn_phones(&server, 1..6, &behaviour()).await;
    until_booted(&phones).await;
    let mut stopped = Vec::new();
    for phone in phones {
        stopped.push(phone.stop().await);
    }
    for phone in &stopped {
        let model = phone.profile.model.as_str();
        let key = |name: &str, index: u32| phone.value(name, Some(index)).map(str::to_owned);
        match model {
            "OpenStage 60" | "OpenStage 80" => {
                assert_eq!(key("function-key-def", 1).as_deref(), Some("59"), "{model}");
                assert_eq!(
                    key("stimulus-led-control-uri", 1).as_deref(),
                    Some("4930777"),
                    "{model}: rendered"
                );
                assert_eq!(key("select-dial", 2).as_deref(), Some("4930100"), "{model}");
                assert_eq!(
                    key("key-label-unicode", 1008).as_deref(),
                    Some("Redial"),
                    "{model}: shifted level"
                );
                let dnd = key("function-key-def", 9);
                assert_eq!(
                    dnd.as_deref() == Some("25"),
                    model == "OpenStage 80",
                    "{model}: key 9 only on the 80"
                );
            }
            _ => assert_ne!(
                key("function-key-def", 1).as_deref(),
                Some("59"),
                "{model} got a layout it does not fit"
            ),
        }
    }
}
