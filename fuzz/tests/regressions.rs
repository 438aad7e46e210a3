//! Replays every committed fuzz input through its target's `check`, in the
//! normal `cargo test` run: the reproducers in `fuzz/regressions/<target>/`
//! (each a crash once, fixed since) and the seeds in `fuzz/corpus/<target>/`.
//! A fixed crash stays fixed, and a seed that starts to crash fails CI
//! rather than the next fuzzing session.

use std::path::Path;

/// A target's `check`: panics on a violated invariant.
type Check = fn(&[u8]);

/// Each target's directory name and its `check`.
const TARGETS: [(&str, Check); 3] = [
    ("token", edge_revoke_fuzz::token::check),
    ("routes", edge_revoke_fuzz::routes::check),
    ("invalidate_body", edge_revoke_fuzz::invalidate::check),
];

/// Runs every file under `fuzz/<kind>/<target>/` through the target's check;
/// returns how many ran. A panic names the file.
fn replay(kind: &str, target: &str, check: Check) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for path in &files {
        let data = std::fs::read(path).expect("readable input");
        let name = format!(
            "{kind}/{target}/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{name} violates an invariant of the `{target}` target");
        }
    }
    files.len()
}

#[test]
fn every_regression_still_passes() {
    let ran: usize = TARGETS
        .iter()
        .map(|(target, check)| replay("regressions", target, *check))
        .sum();
    // token: 1, invalidate_body: 5 (see docs/fuzzing.md, Findings).
    assert!(ran >= 6, "only {ran} regression files found");
}

#[test]
fn every_seed_passes() {
    for (target, check) in TARGETS {
        let ran = replay("corpus", target, check);
        assert!(ran > 0, "no seeds for {target}");
    }
}

#[test]
fn every_directory_belongs_to_a_target() {
    for kind in ["regressions", "corpus"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
        for entry in std::fs::read_dir(&dir).expect("the directory exists") {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(target, _)| *target == name),
                "{kind}/{name} has no target here to replay it"
            );
        }
    }
}
