//! The generated TypeScript in the client matches the Rust types: fails when
//! it is stale. `PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol` rewrites it.

use std::path::Path;

#[test]
fn client_typescript_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(podium_protocol::typescript::TYPESCRIPT_PATH);
    let want = podium_protocol::typescript();
    if std::env::var_os("PODIUM_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run `PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol` and commit it",
        path.display()
    );
}
