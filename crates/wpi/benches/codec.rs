//! Parse and serialize a realistic `ReadAllItems` reply: 400 items, about 30 kB, the size of a
//! full phone inventory (guide p. 34). Run with `cargo bench -p opendls-wpi`; divan prints
//! bytes/s and messages/s.

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use opendls_wpi::{
    Action, Catalog, Fragment, Item, ReasonForContact, ReplyStatus, WorkpointMessage,
    parse_workpoint_message, write_workpoint_message,
};

fn main() {
    divan::main();
}

/// A reply with 400 catalog items whose values look like a phone's (booleans, numbers, hosts,
/// labels, a few escaped characters).
fn read_all_items_reply() -> WorkpointMessage {
    let catalog = Catalog::builtin();
    let mut items = Vec::with_capacity(400);
    for (n, entry) in catalog.entries().iter().cycle().enumerate().take(400) {
        let value = match entry.type_text.as_str() {
            "boolean" => if n % 2 == 0 { "true" } else { "false" }.to_owned(),
            t if t.starts_with("integer") || t.starts_with("enum") => (n % 17).to_string(),
            t if t.starts_with("ip") => format!("192.168.{}.{}", n % 250, (n * 7) % 250),
            _ => format!("Value {n} for {} & more, as a phone reports it", entry.name),
        };
        let index = (entry.indexing == opendls_wpi::catalog::Indexing::Indexed).then_some((n % 8) as u32 + 1);
        items.push(Item { index, ..Item::new(entry.name.clone(), value) });
    }
    WorkpointMessage {
        nonce: "B0151B36FE9CEEA0F667FF3A208AC994".into(),
        max_items: Some(-1),
        fragment: Some(Fragment::Final),
        reason: ReasonForContact::reply_to(Action::ReadAllItems, ReplyStatus::Accepted),
        items,
    }
}

#[divan::bench]
fn parse_read_all_items_reply(bencher: Bencher) {
    let body = write_workpoint_message(&read_all_items_reply());
    bencher
        .counter(BytesCount::new(body.len()))
        .counter(ItemsCount::new(1usize))
        .bench(|| parse_workpoint_message(black_box(body.as_bytes())).unwrap());
}

#[divan::bench]
fn serialize_read_all_items_reply(bencher: Bencher) {
    let message = read_all_items_reply();
    let size = write_workpoint_message(&message).len();
    bencher
        .counter(BytesCount::new(size))
        .counter(ItemsCount::new(1usize))
        .bench(|| write_workpoint_message(black_box(&message)));
}
