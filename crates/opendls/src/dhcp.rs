//! `opendls dhcp`: the DHCP option 43 that points these phones at the service, as a snippet for
//! each common DHCP server, and the decoding of an existing one.
//!
//! The phones send vendor class (option 60) `OptiIpPhone` and read option 43 as sub-options
//! of one-byte code and length: 1 the vendor `Siemens`, 2 the VLAN ID (4 bytes), 3 the DLS
//! address `sdlp://host:port`, and `FF` to end (docs/wpi-protocol.md §3, from the OpenScape Desk
//! Phone CP administration manual p. 42 and the OpenStage administration manual p. 2-12).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};

use crate::Refused;

/// The vendor class the phones send (option 60).
pub(crate) const VENDOR_CLASS: &str = "OptiIpPhone";

/// The phones' default DLS port (guide p. 12).
const DEFAULT_PORT: u16 = 18443;

/// `opendls dhcp …`.
#[derive(Subcommand)]
pub(crate) enum DhcpCommand {
    /// Print option 43 for the phones, ready for a DHCP server's configuration.
    Option43(Option43Args),
    /// Decode an option 43 value (hex: `0107536965…ff`, `01:07:53…`, `0x01,0x07,…`).
    Decode {
        /// The value in hex.
        hex: String,
    },
}

/// `opendls dhcp option43` options.
#[derive(Args)]
pub(crate) struct Option43Args {
    /// Where phones reach the service: `HOST` or `HOST:PORT` (port 18443 when left out).
    #[arg(long)]
    pub address: String,
    /// The voice VLAN the phones move to (1-4094), if any.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4094))]
    pub vlan: Option<u32>,
    /// The DHCP server the snippet is for.
    #[arg(long, value_enum, default_value = "hex")]
    pub format: Format,
}

/// A DHCP server's configuration syntax.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// ISC dhcpd (`dhcpd.conf`).
    Isc,
    /// ISC Kea (`kea-dhcp4.conf`, JSON).
    Kea,
    /// dnsmasq.
    Dnsmasq,
    /// Windows Server DHCP (PowerShell).
    Windows,
    /// MikroTik RouterOS.
    Mikrotik,
    /// Cisco IOS DHCP pool.
    Cisco,
    /// The bytes in hex, nothing else.
    Hex,
}

/// The fields option 43 carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Option43 {
    /// Sub-option 1.
    pub vendor: Option<String>,
    /// Sub-option 2.
    pub vlan: Option<u32>,
    /// Sub-option 3.
    pub dls: Option<String>,
    /// Sub-options opendls does not know, as code and bytes.
    pub others: Vec<(u8, Vec<u8>)>,
    /// Whether the `FF` end marker is there.
    pub ended: bool,
}

/// The `sdlp://host:port` address from `HOST[:PORT]`.
pub(crate) fn dls_address(address: &str) -> Result<String, String> {
    let address = address.trim().trim_start_matches("sdlp://");
    let (host, port) = match address.rsplit_once(':') {
        // An IPv6 address in brackets keeps its colons.
        Some((host, port)) if !host.ends_with(':') && (!host.contains(':') || host.starts_with('[')) => {
            let port: u16 = port.parse().map_err(|_| format!("{port:?} is not a port"))?;
            (host, port)
        }
        _ => (address, DEFAULT_PORT),
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':');
    if host.is_empty() || !host.chars().all(allowed) || port == 0 {
        return Err(format!("{address:?} is not HOST or HOST:PORT"));
    }
    Ok(format!("sdlp://{host}:{port}"))
}

/// The bytes of option 43.
pub(crate) fn encode(dls: &str, vlan: Option<u32>) -> Result<Vec<u8>, String> {
    let mut bytes = vec![1, 7];
    bytes.extend(b"Siemens");
    if let Some(vlan) = vlan {
        bytes.extend([2, 4]);
        bytes.extend(vlan.to_be_bytes());
    }
    let length = u8::try_from(dls.len()).map_err(|_| format!("{dls} is longer than 255 bytes"))?;
    bytes.extend([3, length]);
    bytes.extend(dls.as_bytes());
    bytes.push(0xff);
    Ok(bytes)
}

/// Reads option 43 from hex; every problem is named.
pub(crate) fn decode(text: &str) -> Result<Option43, String> {
    let bytes = parse_hex(text)?;
    let mut option = Option43 { vendor: None, vlan: None, dls: None, others: Vec::new(), ended: false };
    let mut at = 0;
    while at < bytes.len() {
        let code = bytes[at];
        match code {
            0 => {
                at += 1;
                continue;
            }
            0xff => {
                option.ended = true;
                if bytes[at + 1..].iter().any(|b| *b != 0) {
                    return Err(format!("bytes after the FF end marker at byte {at}"));
                }
                break;
            }
            _ => {}
        }
        let length =
            *bytes.get(at + 1).ok_or(format!("sub-option {code} at byte {at} has no length"))? as usize;
        let value = bytes
            .get(at + 2..at + 2 + length)
            .ok_or(format!("sub-option {code} at byte {at} says {length} bytes; fewer follow"))?;
        let text = || String::from_utf8(value.to_vec()).map_err(|_| format!("sub-option {code} is not text"));
        match code {
            1 => option.vendor = Some(text()?.trim_end_matches('\0').to_owned()),
            2 if length == 4 => option.vlan = Some(u32::from_be_bytes(value.try_into().expect("4 bytes"))),
            2 => return Err(format!("the VLAN (sub-option 2) has {length} bytes, not 4")),
            3 => option.dls = Some(text()?),
            _ => option.others.push((code, value.to_vec())),
        }
        at += 2 + length;
    }
    Ok(option)
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = text
        .split([',', ' ', ':', '.', '\n', '\t'])
        .map(|part| part.trim_start_matches("0x").trim_start_matches("0X"))
        .collect();
    if cleaned.is_empty() || !cleaned.len().is_multiple_of(2) {
        return Err("an even number of hex digits is needed".into());
    }
    (0..cleaned.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&cleaned[i..i + 2], 16)
                .map_err(|_| format!("{:?} is not hex", &cleaned[i..i + 2]))
        })
        .collect()
}

/// The snippet for a DHCP server.
pub(crate) fn snippet(format: Format, bytes: &[u8], dls: &str, vlan: Option<u32>) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let colons = bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let vlan_note = vlan.map_or(String::new(), |v| format!(", VLAN {v}"));
    let about = format!("opendls: phones of vendor class {VENDOR_CLASS} are sent {dls}{vlan_note}");
    match format {
        Format::Hex => hex,
        Format::Isc => format!(
            "# {about}\nclass \"{VENDOR_CLASS}\" {{\n  match if option vendor-class-identifier = \"{VENDOR_CLASS}\";\n  \
             option vendor-encapsulated-options {colons};\n}}"
        ),
        Format::Kea => {
            let data = hex.to_uppercase();
            format!(
                "// {about}\n// Put this entry in Dhcp4 \"client-classes\".\n{{\n  \"name\": \"{VENDOR_CLASS}\",\n  \
                 \"test\": \"option[60].text == '{VENDOR_CLASS}'\",\n  \"option-def\": [ {{ \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"type\": \"binary\" }} ],\n  \
                 \"option-data\": [ {{ \"name\": \"vendor-encapsulated-options\", \"code\": 43, \"csv-format\": false, \"data\": \"{data}\" }} ]\n}}"
            )
        }
        Format::Dnsmasq => format!(
            "# {about}\ndhcp-vendorclass=set:optiipphone,{VENDOR_CLASS}\ndhcp-option=tag:optiipphone,43,{colons}"
        ),
        Format::Windows => {
            let values = bytes.iter().map(|b| format!("0x{b:02x}")).collect::<Vec<_>>().join(",");
            format!(
                "# {about}\n# Option 43 for every client of the scope (a voice scope); replace the scope.\n\
                 Set-DhcpServerv4OptionValue -ScopeId 10.0.0.0 -OptionId 43 -Value {values}"
            )
        }
        Format::Mikrotik => format!(
            "# {about}\n/ip dhcp-server option add name=opendls-dls code=43 value=0x{hex}\n\
             /ip dhcp-server option sets add name=opendls options=opendls-dls\n\
             # then: /ip dhcp-server network set [find] dhcp-option-set=opendls"
        ),
        Format::Cisco => {
            let dotted =
                hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
            format!("! {about}\nip dhcp pool PHONES\n option 43 hex {}", dotted.join("."))
        }
    }
}

/// Runs `opendls dhcp …`.
pub(crate) fn run(command: DhcpCommand) -> Result<ExitCode> {
    match command {
        DhcpCommand::Option43(args) => {
            let dls = dls_address(&args.address).map_err(Refused)?;
            let bytes = encode(&dls, args.vlan).map_err(Refused)?;
            println!("{}", snippet(args.format, &bytes, &dls, args.vlan));
        }
        DhcpCommand::Decode { hex } => {
            let option = decode(&hex).map_err(Refused)?;
            let field = |value: Option<String>| value.unwrap_or_else(|| "-".into());
            println!("vendor   {}", field(option.vendor.clone()));
            println!("vlan     {}", field(option.vlan.map(|v| v.to_string())));
            println!("dls      {}", field(option.dls.clone()));
            for (code, value) in &option.others {
                let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
                println!("option {code} {hex} (not one the phones are documented to read)");
            }
            if !option.ended {
                eprintln!("warning: no FF end marker");
            }
            if option.vendor.as_deref() != Some("Siemens") {
                eprintln!("warning: sub-option 1 is not \"Siemens\": the phones may ignore the value");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value documented to work on the phones (docs/wpi-protocol.md §3).
    const KNOWN: &str =
        "01075369656d656e73020400000065031a73646c703a2f2f39332e3132322e3131342e39363a3138343433ff";

    #[test]
    fn the_documented_bytes_come_out() {
        let dls = dls_address("93.122.114.96").unwrap();
        assert_eq!(dls, "sdlp://93.122.114.96:18443");
        assert_eq!(snippet(Format::Hex, &encode(&dls, Some(101)).unwrap(), &dls, Some(101)), KNOWN);
        let without_vlan = encode("sdlp://192.168.2.19:18443", None).unwrap();
        assert_eq!(&without_vlan[9..11], [3, 0x19], "the manual's sub-option 3 example length");
    }

    #[test]
    fn decoding_reads_every_field_back_and_names_problems() {
        let option = decode(KNOWN).unwrap();
        assert_eq!(
            (option.vendor.as_deref(), option.vlan, option.dls.as_deref(), option.ended),
            (Some("Siemens"), Some(101), Some("sdlp://93.122.114.96:18443"), true)
        );
        let spaced = decode("0x01,0x07,0x53,0x69,0x65,0x6d,0x65,0x6e,0x73,0xff").unwrap();
        assert_eq!(spaced.vendor.as_deref(), Some("Siemens"));
        // Older docs pad the vendor with NULs and add pad bytes before FF.
        let padded = decode("010a5369656d656e73000000 0000 ff").unwrap();
        assert_eq!((padded.vendor.as_deref(), padded.ended), (Some("Siemens"), true));
        assert!(decode("0107536965").unwrap_err().contains("fewer follow"));
        assert!(decode("02020065ff").unwrap_err().contains("not 4"));
        assert!(decode("zz").is_err() && decode("123").is_err());
        assert!(!decode("01075369656d656e73").unwrap().ended);
    }

    #[test]
    fn addresses_take_a_port_or_get_the_default() {
        assert_eq!(dls_address("dls.example.com").unwrap(), "sdlp://dls.example.com:18443");
        assert_eq!(dls_address("10.0.0.5:28443").unwrap(), "sdlp://10.0.0.5:28443");
        assert_eq!(dls_address("[fd00::5]:18443").unwrap(), "sdlp://[fd00::5]:18443");
        assert!(dls_address("").is_err() && dls_address("a b").is_err() && dls_address("h:0").is_err());
        assert!(dls_address("h:port").is_err());
        assert!(encode(&"x".repeat(300), None).is_err());
    }
}
