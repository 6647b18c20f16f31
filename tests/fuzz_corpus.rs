//! Every input in the fuzz corpus (the seeds kept in the repository, and
//! any crash reproducers added there) runs through the fuzz harness on
//! every test run, without cargo-fuzz.

use std::path::Path;

#[test]
fn the_fuzz_corpus_still_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_process");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/parse_process exists") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        flypaper::fuzz_harness::run(&data);
        n += 1;
    }
    assert!(n >= 50, "the corpus holds the seeds ({n} files)");
}
