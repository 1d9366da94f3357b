//! Copies the built-in calendar data into the build without its comments: they cite sources for
//! people, and the browser bundle need not carry them.

use std::fs;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in ["sessions.csv", "nse-equity.csv"] {
        let source = Path::new("data").join(name);
        println!("cargo:rerun-if-changed={}", source.display());
        let text = fs::read_to_string(&source).expect("the built-in calendar data");
        let rows: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| [line, "\n"])
            .collect();
        fs::write(Path::new(&out).join(name), rows).expect("OUT_DIR is writable");
    }
}
