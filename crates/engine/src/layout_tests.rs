use opendls_wpi::models::{MODELS, by_device_type};

use super::*;

fn layout(toml_keys: Vec<KeyDefinition>) -> Layout {
    Layout { name: "reception".into(), description: None, keys: toml_keys }
}

fn key(number: u16, function: &str) -> KeyDefinition {
    KeyDefinition {
        key: number,
        shifted: false,
        module: None,
        function: FunctionRef::Name(function.into()),
        label: None,
        target: None,
        audible: None,
        popup: None,
        number: None,
        items: BTreeMap::new(),
    }
}

fn model(device_type: &str) -> &'static PhoneModel {
    by_device_type(device_type).unwrap_or_else(|| panic!("{device_type} is known"))
}

#[test]
fn keys_render_into_indexed_items() {
    let blf = KeyDefinition {
        label: Some("Boss".into()),
        target: Some("{{device.var.boss}}".into()),
        audible: Some(true),
        ..key(2, "blf")
    };
    let dial = KeyDefinition { shifted: true, number: Some("100".into()), ..key(3, "selected-dialling") };
    let module = KeyDefinition { module: Some(1), label: Some("Hold".into()), ..key(12, "hold") };
    let rendered = layout(vec![blf, dial, module]).render_for(model("OpenStage 60")).unwrap();
    let values: Vec<(String, &str)> =
        rendered.values.iter().map(|(k, v)| (k.to_string(), v.as_str())).collect();
    assert_eq!(
        values,
        [
            ("blf-audible[2]".to_owned(), "true"),
            ("function-key-def[2]".to_owned(), "59"),
            ("function-key-def[312]".to_owned(), "10"),
            ("function-key-def[1003]".to_owned(), "1"),
            ("key-label-unicode[2]".to_owned(), "Boss"),
            ("key-label-unicode[312]".to_owned(), "Hold"),
            ("select-dial[1003]".to_owned(), "100"),
            ("stimulus-led-control-uri[2]".to_owned(), "{{device.var.boss}}"),
        ]
    );
    assert_eq!(
        rendered.warnings.len(),
        3,
        "module numbering and two third-party ids: {:?}",
        rendered.warnings
    );
}

#[test]
fn a_layout_that_does_not_fit_is_refused_with_every_reason() {
    let wide =
        layout(vec![key(7, "hold"), key(9, "blf"), KeyDefinition { module: Some(1), ..key(1, "hold") }]);
    assert!(wide.render_for(model("OpenStage 80")).is_ok(), "9 keys and key modules on an OpenStage 80");
    let refused = wide.render_for(model("OpenStage 40")).unwrap_err();
    assert_eq!(
        refused,
        [
            "key 7: OpenStage 40 has programmable keys 1-6 (guide p. 120)",
            "key 9: OpenStage 40 has programmable keys 1-6 (guide p. 120)",
        ]
    );
    let refused = wide.render_for(model("OpenStage 20")).unwrap_err();
    assert!(
        refused[0].contains("the guide does not give the programmable keys of OpenStage 20"),
        "{refused:?}"
    );
    assert!(refused[2].contains("takes no key module"), "{refused:?}");
    let mistakes = layout(vec![
        key(1, "hold"),
        KeyDefinition { target: Some("x".into()), ..key(1, "hold") },
        key(2, "teleport"),
        KeyDefinition { target: Some("x".into()), ..key(3, "hold") },
        key(0, "hold"),
    ]);
    let refused = mistakes.render_for(model("OpenStage 60")).unwrap_err();
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(refused.iter().any(|r| r == "key 1 is defined twice"), "{refused:?}");
    assert!(refused.iter().any(|r| r.starts_with("key 2: unknown function \"teleport\"")), "{refused:?}");
    assert!(refused.iter().any(|r| r == "key 3: target is for BLF keys (function blf) only"), "{refused:?}");
}

#[test]
fn every_function_name_is_unique_and_lower_case() {
    let names: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(names.len(), FUNCTIONS.len());
    assert!(FUNCTIONS.iter().all(|f| f.name == f.name.to_ascii_lowercase()));
    assert!(MODELS.iter().any(|m| m.programmable_keys.is_none()), "unknown counts stay unknown");
}
