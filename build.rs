//! Compiles the XDP program (`bpf/flypaper.bpf.c`) with clang into
//! `$OUT_DIR/flypaper.bpf.o`, which `src/sys/xdp.rs` embeds with
//! `include_bytes!`.
//!
//! Plain clang rather than libbpf-cargo's SkeletonBuilder: the program has
//! one function and five maps that userspace finds by name, so a generated
//! skeleton would buy little, while libbpf-cargo would add a large
//! build-dependency tree to every `cargo build`. This script runs clang once
//! (well under a second) and only when a file under `bpf/` changes.
//!
//! Needs Debian's `clang` and `linux-libc-dev` (`linux/bpf.h`; installed
//! with `libc6-dev`, which Rust needs anyway). The program defines the few
//! libbpf helper declarations it uses, so `libbpf-dev` is not needed. A
//! missing tool is a build error that names the package: the appliance
//! cannot work without its XDP program, so the build never skips it.
//! `CLANG` overrides the compiler.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let src = Path::new("bpf/flypaper.bpf.c");
    let header = Path::new("bpf/flypaper.h");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-env-changed=CLANG");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("flypaper.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());

    if Command::new(&clang).arg("--version").output().is_err() {
        fail(&format!(
            "`{clang}` was not found: the XDP program in bpf/ is compiled with clang.\n\
             Install it with: apt-get install clang   (or set CLANG=/path/to/clang)"
        ));
    }
    if !Path::new("/usr/include/linux/bpf.h").exists() {
        fail(
            "/usr/include/linux/bpf.h is missing: the XDP program needs the kernel's UAPI headers.\n\
             Install them with: apt-get install linux-libc-dev",
        );
    }

    // <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the
    // multiarch directory; `-target bpf` does not search it by itself.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_string());
    let multiarch = match arch.as_str() {
        "x86" => "i386-linux-gnu".to_string(),
        "arm" => "arm-linux-gnueabihf".to_string(),
        a => format!("{a}-linux-gnu"),
    };

    let result = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-Ibpf")
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(&obj)
        .output();
    match result {
        Ok(o) if o.status.success() => {}
        Ok(o) => fail(&format!(
            "clang failed to compile {}:\n{}\n(needs Debian packages clang and linux-libc-dev)",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => fail(&format!("could not run `{clang}`: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    for line in msg.lines() {
        println!("cargo:warning={line}");
    }
    panic!("{msg}");
}
