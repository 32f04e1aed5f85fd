//! The README's bare-metal table against `examples/size-report.md`, the
//! committed output of `examples/size-report.sh` (which needs QEMU and the
//! cross targets; `./test.sh` reruns it and fails when its table differs
//! from the committed one). Every row of the report is in the README, in
//! KiB with one decimal, and the README has no other row.

use std::collections::BTreeMap;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// (target, build) → (keel flash, keel RAM), as the README writes them.
type Sizes = BTreeMap<(String, String), (String, String)>;

fn kib(bytes: &str) -> String {
    let b: f64 = bytes.parse().unwrap_or_else(|_| panic!("bytes: {bytes}"));
    format!("{:.1} KiB", b / 1024.0)
}

fn from_report(text: &str) -> Sizes {
    text.lines()
        .filter(|l| l.starts_with("| thumb"))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 8, "{l}");
            let build = match c[1].as_str() {
                "(a) servo" => "servo",
                "(c) engine+servo+PHC" => "engine + servo + PHC triples",
                "(b) servo+NTP+PTP" => "servo + NTP client + PTP slave",
                other => panic!("a build the README does not know: {other}"),
            };
            ((c[0].clone(), build.to_string()), (kib(&c[3]), kib(&c[7])))
        })
        .collect()
}

fn from_readme(text: &str) -> Sizes {
    let section = text
        .split("\n## Bare metal\n")
        .nth(1)
        .expect("README has a Bare metal section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| thumb"))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 4, "{l}");
            ((c[0].clone(), c[1].clone()), (c[2].clone(), c[3].clone()))
        })
        .collect()
}

#[test]
fn readme_bare_metal_table_is_the_size_report() {
    let report = std::fs::read_to_string(root().join("examples/size-report.md"))
        .expect("examples/size-report.md (run examples/size-report.sh > examples/size-report.md)");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let want = from_report(&report);
    let have = from_readme(&readme);
    assert_eq!(want.len(), 6, "{report}");
    assert_eq!(
        have, want,
        "README's bare-metal table (left) differs from examples/size-report.md (right): copy the report's figures (bytes / 1024, one decimal) into the README"
    );
}

#[test]
fn parsing() {
    let r = "| thumbv6m-none-eabi | (a) servo | 20000 | 19456 | 100 | 3000 | 3200 | 3379 |\n";
    let s = from_report(r);
    assert_eq!(
        s[&("thumbv6m-none-eabi".into(), "servo".into())],
        ("19.0 KiB".into(), "3.3 KiB".into())
    );
    let m = "x\n## Bare metal\n| thumbv6m-none-eabi | servo | 19.0 KiB | 3.3 KiB |\n## Licence\n| thumbv7em | servo | 1 | 2 |\n";
    assert_eq!(from_readme(m), s);
}
