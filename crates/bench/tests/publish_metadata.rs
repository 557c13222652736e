//! The library crates others depend on carry complete, real package metadata (what
//! crates.io shows and `cargo publish` sends): no placeholder, nothing missing.

use std::process::Command;

#[test]
fn library_crates_have_complete_metadata() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for name in ["btcclient-wire", "btcclient-manager", "btcclient-simnet"] {
        let pkg = meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not in the workspace"));
        let text = |field: &str| pkg[field].as_str().unwrap_or("").to_owned();
        let description = text("description");
        assert!(
            description.len() >= 30,
            "{name}: description {description:?}"
        );
        assert!(!text("license").is_empty(), "{name}: license");
        assert_eq!(text("readme"), "README.md", "{name}: readme");
        let dir = std::path::Path::new(&text("manifest_path"))
            .parent()
            .expect("crate dir")
            .to_owned();
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("README.md");
        assert!(
            readme.starts_with(&format!("# {name}")),
            "{name}: README title"
        );
        assert_eq!(
            text("documentation"),
            format!("https://docs.rs/{name}"),
            "{name}: documentation"
        );
        for list in ["keywords", "categories"] {
            let n = pkg[list].as_array().map_or(0, Vec::len);
            assert!((1..=5).contains(&n), "{name}: {n} {list}");
        }
        // A repository is given only once there is a real one.
        let all = pkg.to_string();
        for placeholder in ["example.invalid", "example.com", "TODO", "FIXME"] {
            assert!(!all.contains(placeholder), "{name}: {placeholder} in {all}");
        }
    }
}
