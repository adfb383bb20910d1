use super::*;

fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
    let mut header = V2_SIGNATURE.to_vec();
    header.extend([0x20 | command, family]);
    header.extend((block.len() as u16).to_be_bytes());
    header.extend(block);
    header
}

#[test]
fn version_1_lines_name_the_client() {
    let line = b"PROXY TCP4 192.168.3.33 10.0.0.2 56324 18443\r\n\x16\x03\x01";
    let source = Some("192.168.3.33:56324".parse().unwrap());
    assert_eq!(parse(line), Ok(Header::Complete { length: 46, source }));
    let six = b"PROXY TCP6 fd00::33 fd00::2 4000 18443\r\n";
    assert_eq!(
        parse(six),
        Ok(Header::Complete { length: 40, source: Some("[fd00::33]:4000".parse().unwrap()) })
    );
    assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Header::Complete { length: 15, source: None }));
    assert_eq!(parse(b"PROXY TCP4 192.168"), Ok(Header::Incomplete));
    assert_eq!(parse(b"PRO"), Ok(Header::Incomplete));
}

#[test]
fn version_2_headers_name_the_client_and_skip_tlvs() {
    let mut block = vec![192, 168, 3, 33, 10, 0, 0, 2];
    block.extend(56324u16.to_be_bytes());
    block.extend(18443u16.to_be_bytes());
    block.extend([0x04, 0x00, 0x01, 0xaa]); // a TLV, skipped
    let header = v2(1, 0x11, &block);
    let source = Some("192.168.3.33:56324".parse().unwrap());
    assert_eq!(parse(&header), Ok(Header::Complete { length: header.len(), source }));
    assert_eq!(parse(&header[..20]), Ok(Header::Incomplete));
    let mut six = "fd00::33".parse::<Ipv6Addr>().unwrap().octets().to_vec();
    six.extend("fd00::2".parse::<Ipv6Addr>().unwrap().octets());
    six.extend([0x0f, 0xa0, 0x48, 0x0b]);
    let source = Some("[fd00::33]:4000".parse().unwrap());
    assert_eq!(parse(&v2(1, 0x21, &six)), Ok(Header::Complete { length: 52, source }));
    assert_eq!(parse(&v2(0, 0x00, &[])), Ok(Header::Complete { length: 16, source: None }), "LOCAL");
}

#[test]
fn anything_else_is_refused() {
    for bad in [
        &b"\x16\x03\x01\x02\x00"[..], // a TLS ClientHello, no header
        b"GET / HTTP/1.1\r\n",
        b"PROXY TCP4 192.168.3.33 10.0.0.2 notaport 18443\r\n",
        b"PROXY TCP4 fd00::1 10.0.0.2 1 2\r\n",
        b"PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n",
    ] {
        assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    assert!(parse(&[b'P'; 200]).is_err(), "an endless line");
    let mut future = v2(1, 0x11, &[0; 12]);
    future[12] = 0x31;
    assert!(parse(&future).is_err(), "version 3");
    assert!(parse(&v2(1, 0x11, &[0; 4])).is_err(), "too short for IPv4");
    let mut huge = V2_SIGNATURE.to_vec();
    huge.extend([0x21, 0x11, 0xff, 0xff]);
    assert!(parse(&huge).is_err(), "64 KiB of TLVs");
}

#[test]
fn only_configured_peers_are_trusted() {
    let proxies = TrustedProxies::parse(&["10.0.0.0/24".into(), "fd00::5".into()]).unwrap();
    assert!(proxies.trusts("10.0.0.7".parse().unwrap()));
    assert!(proxies.trusts("fd00::5".parse().unwrap()));
    assert!(!proxies.trusts("10.0.1.7".parse().unwrap()));
    assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
}
