//! Builds the example plugins (examples/rust-*) as wasm32-wasip2 components and embeds them,
//! so `logcatch` runs its default config from any directory, installed by `cargo install`
//! or a package alike (`core/src/wasm/locate.rs` finds them by name).
//!
//! The build is the one `scripts/build-guests` runs (same flags, same target directory when
//! `LOGCATCH_GUESTS_TARGET_DIR` names it, as `.cargo/config.toml` does in the repository),
//! so either makes the other a no-op.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The plugins built in: the examples' file names.
const EMBEDDED: &[&str] = &[
    "drop_debug.wasm",
    "redact.wasm",
    "parse_json.wasm",
    "parse_access.wasm",
    "http_bulk_sink.wasm",
];

/// What the guests are built with (`scripts/build-guests` sets the same).
const GUEST_RUSTFLAGS: &str = "-C target-feature=+simd128";

fn main() {
    let repo = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env("OUT_DIR"));
    for watched in [
        "examples/Cargo.toml",
        "examples/Cargo.lock",
        "sdk/rust",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={watched}");
    }
    for name in EMBEDDED {
        let dir = format!(
            "examples/rust-{}",
            name.trim_end_matches(".wasm").replace('_', "-")
        );
        println!("cargo:rerun-if-changed={dir}");
    }
    println!("cargo:rerun-if-env-changed=LOGCATCH_GUESTS_TARGET_DIR");
    let target_dir = std::env::var_os("LOGCATCH_GUESTS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out.join("guests"));

    build_guests(&repo, &target_dir);

    let built = target_dir.join("wasm32-wasip2/release");
    let mut table = String::from("&[\n");
    for name in EMBEDDED {
        let from = built.join(name);
        let to = out.join(name);
        if let Err(e) = std::fs::copy(&from, &to) {
            fail(&format!(
                "the example plugin {} was not built: {e}",
                from.display()
            ));
        }
        table.push_str(&format!(
            "    logcatch_core::wasm::locate::Embedded {{ name: {name:?}, bytes: include_bytes!({to:?}) }},\n"
        ));
    }
    table.push(']');
    std::fs::write(out.join("embedded_plugins.rs"), table).expect("OUT_DIR is writable");
    println!(
        "cargo:rustc-env=LOGCATCH_WASMTIME_VERSION={}",
        locked_version(&repo, "wasmtime")
    );
}

/// `cargo build --release --target wasm32-wasip2` of the examples' workspace, with an
/// environment of its own: none of the flags, wrappers or target of the build running us.
fn build_guests(repo: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--manifest-path")
        .arg(repo.join("examples/Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", GUEST_RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building the example plugins failed ({s}); is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2` (scripts/setup runs it)"
        )),
        Err(e) => fail(&format!(
            "cannot run cargo to build the example plugins: {e}"
        )),
    }
}

/// The version of `package` in Cargo.lock (what `logcatch --version` reports).
fn locked_version(repo: &Path, package: &str) -> String {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string(repo.join("Cargo.lock")).unwrap_or_default();
    let wanted = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == wanted
            && let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = "))
        {
            return v.trim_matches('"').to_owned();
        }
    }
    "unknown".to_owned()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("{name} is not set")))
}

fn fail(why: &str) -> ! {
    eprintln!("logcatch build: {why}");
    std::process::exit(1)
}
