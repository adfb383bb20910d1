//! `opendls completions` and `opendls man`: made from the command-line definitions.

use std::process::Command;

use crate::support::{offline as opendls, stderr, stdout};

#[test]
fn completions_complete_and_man_pages_cover_every_command() {
    let script = opendls(&["completions", "bash"]);
    assert!(script.status.success(), "{}", stderr(&script));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opendls.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    // bash completes `opendls dhcp op` to `option43` with the generated function.
    let completed = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(opendls dhcp op); COMP_CWORD=2; COMP_LINE='opendls dhcp op'; \
             COMP_POINT=${{#COMP_LINE}}; _opendls opendls op dhcp; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&completed).trim(), "option43", "{}", stderr(&completed));

    let pages = dir.path().join("man");
    let written = opendls(&["man", pages.to_str().unwrap()]);
    assert!(written.status.success(), "{}", stderr(&written));
    let page = std::fs::read_to_string(pages.join("opendls-config-diff.1")).unwrap();
    assert!(page.contains(".TH opendls-config-diff 1"), "{page}");
    assert!(page.contains("opendls config diff"), "the synopsis shows the command as typed:\n{page}");
    let count = std::fs::read_dir(&pages).unwrap().count();
    assert!(stderr(&written).contains(&format!("wrote {count} man pages")), "{}", stderr(&written));
    assert!(!pages.join("opendls-bench-tls-server.1").exists(), "hidden commands have no page");
}
