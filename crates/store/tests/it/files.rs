//! The catalogue of firmware images and files: added once per name, listed, removed, and told
//! when the last row naming a content goes.

use opendls_store::{FileKind, FileRemoval, FileStore, NewStoredFile, StoreError};

use crate::backend::Backend;

fn firmware(name: &str, sha: &str) -> NewStoredFile {
    NewStoredFile {
        kind: FileKind::Firmware,
        file_type: "APP".into(),
        name: name.into(),
        sha256: sha.into(),
        size: 20_000_000,
        version: Some("V3 R5.12.0".into()),
        models: vec!["OpenStage 60".into(), "OpenStage 80".into()],
    }
}

pub async fn files_are_added_once_per_name_listed_and_removed<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let image = store.add_stored_file(firmware("OS_60_SIP_V3_R5_12_0.img", "aa"), 100).await.unwrap();
    assert_eq!(store.stored_file(image.id).await.unwrap().unwrap(), image);
    let again = store.add_stored_file(firmware("OS_60_SIP_V3_R5_12_0.img", "bb"), 101).await.unwrap_err();
    assert!(
        matches!(&again, StoreError::Conflict(why) if why.contains("named OS_60_SIP_V3_R5_12_0.img")),
        "{again}"
    );
    // The same content under another name, and a ringtone with the firmware's name: both fine.
    let copy = store.add_stored_file(firmware("copy.img", "aa"), 102).await.unwrap();
    let ringtone = NewStoredFile {
        kind: FileKind::File,
        file_type: "RINGTONE".into(),
        version: None,
        models: Vec::new(),
        ..firmware("OS_60_SIP_V3_R5_12_0.img", "cc")
    };
    let ringtone = store.add_stored_file(ringtone, 103).await.unwrap();

    let all = store.stored_files(None).await.unwrap();
    assert_eq!(
        all.iter().map(|f| f.id).collect::<Vec<_>>(),
        [ringtone.id, copy.id, image.id],
        "newest first"
    );
    let images = store.stored_files(Some(FileKind::Firmware)).await.unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[1].file.models, ["OpenStage 60", "OpenStage 80"]);

    assert_eq!(store.remove_stored_file(image.id).await.unwrap(), FileRemoval::Removed { last_copy: false });
    assert_eq!(store.remove_stored_file(copy.id).await.unwrap(), FileRemoval::Removed { last_copy: true });
    assert_eq!(store.remove_stored_file(copy.id).await.unwrap(), FileRemoval::NotFound);
    assert!(store.stored_file(image.id).await.unwrap().is_none());
}

pub async fn a_removed_files_number_is_never_given_again<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let first = store.add_stored_file(firmware("a.img", "aa"), 100).await.unwrap();
    let second = store.add_stored_file(firmware("b.img", "bb"), 100).await.unwrap();
    store.remove_stored_file(second.id).await.unwrap();
    let third = store.add_stored_file(firmware("c.img", "cc"), 100).await.unwrap();
    assert!(
        third.id > second.id,
        "jobs, pins and URLs that named {} must not come to name another file",
        second.id
    );
    assert!(first.id < second.id);
}

/// A content kept for the nodes sharing the database comes back byte for byte (across chunks),
/// is kept once, and is forgotten only while no stored file names it; forgotten, it is listed
/// for the other nodes to delete their copies. A backend of one node keeps nothing.
pub async fn contents_are_kept_for_other_nodes_where_nodes_share<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    // Two and a half chunks of varied bytes.
    let content: Vec<u8> = (0..(5 * 1024 * 1024 / 2)).map(|i: u32| (i * 7 % 251) as u8).collect();
    let sha = "ab".repeat(32);
    let source = dir.path().join("upload");
    std::fs::write(&source, &content).unwrap();
    store.share_content(&sha, &source).await.unwrap();
    let fetched = dir.path().join("fetched");
    if !store.shares_content() {
        assert!(!store.fetch_content(&sha, &fetched).await.unwrap(), "nothing is kept");
        assert!(!fetched.exists());
        store.forget_content(&sha).await.unwrap();
        assert!(
            store.removed_contents().await.unwrap().is_empty(),
            "one node deletes what it removes itself"
        );
        return;
    }
    // Kept once: a second offer (another node, or this one at its next start) changes nothing.
    std::fs::write(&source, b"other bytes").unwrap();
    store.share_content(&sha, &source).await.unwrap();
    assert!(store.fetch_content(&sha, &fetched).await.unwrap());
    assert!(std::fs::read(&fetched).unwrap() == content, "the content comes back as it was kept");
    assert!(!store.fetch_content(&"cd".repeat(32), &dir.path().join("none")).await.unwrap());

    // Named by a stored file again, it is not forgotten; named by none, it is.
    let named = store.add_stored_file(firmware("a.img", &sha), 100).await.unwrap();
    store.forget_content(&sha).await.unwrap();
    assert!(store.fetch_content(&sha, &dir.path().join("still")).await.unwrap());
    assert!(store.removed_contents().await.unwrap().is_empty(), "a named content is not listed as removed");
    store.remove_stored_file(named.id).await.unwrap();
    store.forget_content(&sha).await.unwrap();
    assert!(!store.fetch_content(&sha, &dir.path().join("gone")).await.unwrap());
    // Listed for the other nodes to delete their copies, until a file names it again.
    assert_eq!(store.removed_contents().await.unwrap(), vec![sha.clone()]);
    let again = store.add_stored_file(firmware("a.img", &sha), 101).await.unwrap();
    assert!(store.removed_contents().await.unwrap().is_empty(), "named again, it is not deleted");
    store.remove_stored_file(again.id).await.unwrap();
    assert_eq!(store.removed_contents().await.unwrap(), vec![sha.clone()]);
    std::fs::write(&source, &content).unwrap();
    store.share_content(&sha, &source).await.unwrap();
    assert!(store.removed_contents().await.unwrap().is_empty(), "uploaded again, it leaves the list");
}
