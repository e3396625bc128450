//! Lays out the `nucleus` binary's functions in the order a running server uses them.
//!
//! `link-order.txt` lists the functions that run at start-up and while serving (written by
//! `bench/link-order.sh`); the linker places them first, side by side. The kernel maps the
//! 64 KiB around each page fault of the executable at once, so with the functions scattered
//! over the 4 MiB text section almost all of it became resident: idle RSS with one worker
//! goes from about 6.6 MiB to 4.5 MiB with the order applied (docs/PERFORMANCE.md).
//!
//! Only applied where the linker is known to be LLD (Rust's default for
//! `x86_64-unknown-linux-gnu` since 1.90) and no other linker was configured; names the
//! binary does not have are skipped silently, so a stale list costs memory, never a build.
//! `NUCLEUS_LINK_ORDER=0` turns it off.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=NUCLEUS_LINK_ORDER");
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let list = PathBuf::from(dir).join("link-order.txt");
    let Some(path) = list.to_str() else {
        return;
    };
    // `-Wl,` splits its argument at commas.
    if !list.is_file() || path.contains(',') || !linker_is_lld() {
        return;
    }
    println!("cargo:rustc-link-arg-bin=nucleus=-Wl,--symbol-ordering-file={path}");
    println!("cargo:rustc-link-arg-bin=nucleus=-Wl,--no-warn-symbol-ordering");
}

fn linker_is_lld() -> bool {
    if env::var("NUCLEUS_LINK_ORDER").is_ok_and(|v| v == "0") {
        return false;
    }
    if env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu") {
        return false;
    }
    // A linker set in Cargo's configuration, or through rustc flags, may not take the option.
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|option| flags.contains(option))
    {
        return false;
    }
    rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the compiler building this crate (`95` for 1.95.0).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
