//! `opendls dhcp`: option 43 for the phones as each DHCP server takes it, and decoded back.

use crate::support::{offline as opendls, stderr, stdout};

#[test]
fn option_43_is_the_documented_bytes_in_every_format_and_decodes_back() {
    // The value docs/wpi-protocol.md §3 records as working on the phones.
    let known = "01075369656d656e73020400000065031a73646c703a2f2f39332e3132322e3131342e39363a3138343433ff";
    let hex = opendls(&["dhcp", "option43", "--address", "93.122.114.96", "--vlan", "101"]);
    assert_eq!(stdout(&hex).trim(), known, "{}", stderr(&hex));
    let colons: Vec<String> =
        known.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    for (format, expected) in [
        ("isc", format!("option vendor-encapsulated-options {};", colons.join(":"))),
        ("dnsmasq", format!("dhcp-option=tag:optiipphone,43,{}", colons.join(":"))),
        ("kea", format!("\"data\": \"{}\"", known.to_uppercase())),
        ("mikrotik", format!("code=43 value=0x{known}")),
        ("cisco", "option 43 hex 0107.5369.656d.656e.7302".into()),
        ("windows", "-OptionId 43 -Value 0x01,0x07,0x53".into()),
    ] {
        let snippet = stdout(&opendls(&[
            "dhcp",
            "option43",
            "--address",
            "93.122.114.96",
            "--vlan",
            "101",
            "--format",
            format,
        ]));
        assert!(snippet.contains(&expected), "{format}:\n{snippet}");
        assert!(snippet.contains("OptiIpPhone"), "{format}: matched to the phones' vendor class");
    }
    let decoded = opendls(&["dhcp", "decode", known]);
    assert_eq!(stdout(&decoded), "vendor   Siemens\nvlan     101\ndls      sdlp://93.122.114.96:18443\n");
    assert_eq!(stderr(&decoded), "", "no warnings for a complete value");
}

#[test]
fn wrong_input_is_refused_with_the_reason() {
    let truncated = opendls(&["dhcp", "decode", "01075369656d"]);
    assert_eq!(truncated.status.code(), Some(1));
    assert!(
        stderr(&truncated).contains("sub-option 1 at byte 0 says 7 bytes; fewer follow"),
        "{}",
        stderr(&truncated)
    );
    let vlan = opendls(&["dhcp", "option43", "--address", "dls.example.com", "--vlan", "5000"]);
    assert_eq!(vlan.status.code(), Some(2), "clap refuses a VLAN out of 1-4094");
    let address = opendls(&["dhcp", "option43", "--address", "dls example"]);
    assert_eq!(address.status.code(), Some(1));
    assert!(stderr(&address).contains("is not HOST or HOST:PORT"), "{}", stderr(&address));
    let foreign = opendls(&["dhcp", "decode", "0106436973636f31ff"]);
    assert!(stderr(&foreign).contains("not \"Siemens\""), "{}", stderr(&foreign));
}
