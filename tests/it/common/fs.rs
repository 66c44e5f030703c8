//! Files a test writes.

use std::path::{Path, PathBuf};

/// Writes `content` to `dir/name`, creating the directories in between.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}
