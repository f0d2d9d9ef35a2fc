//! The committed seed corpus is what our encoders write today.
//!
//! `THREADLINE_FUZZ_WRITE_SEEDS=1 cargo test --test seeds` (in `fuzz/`) rewrites it.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

#[test]
fn the_committed_seeds_are_what_the_encoders_write() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let expected: BTreeMap<_, _> = threadline_fuzz::seeds::all()
        .into_iter()
        .map(|(target, name, body)| (format!("{target}/{name}"), body))
        .collect();
    if std::env::var_os("THREADLINE_FUZZ_WRITE_SEEDS").is_some() {
        let _ = fs::remove_dir_all(&root);
        for (path, body) in &expected {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }
    let mut found = BTreeMap::new();
    for target in fs::read_dir(&root).unwrap() {
        let target = target.unwrap();
        for file in fs::read_dir(target.path()).unwrap() {
            let file = file.unwrap();
            let key = format!(
                "{}/{}",
                target.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            found.insert(key, fs::read(file.path()).unwrap());
        }
    }
    let names = |map: &BTreeMap<String, Vec<u8>>| map.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&found), names(&expected), "seed files");
    for (path, body) in &expected {
        assert!(
            found[path] == *body,
            "{path} is stale: run THREADLINE_FUZZ_WRITE_SEEDS=1 cargo test --test seeds in fuzz/"
        );
    }
}
