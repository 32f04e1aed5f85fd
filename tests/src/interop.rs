//! What the interop tests (`tests/interop_*.rs`) share: the peers fetched by
//! `tests/interop/peers.sh` and the root check. A peer that cannot run is a
//! [`crate::skip::skip`]: a failure under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use keel_core::time::Timestamp;

/// This machine's system clock, read (never set).
///
/// # Panics
/// If the clock reads before 1970.
pub fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
}

/// Does this process run as root (`id -u` is 0)?
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The folder `tests/interop/peers.sh` extracted chrony and linuxptp into
/// (fetched, never installed), or why it could not; `package` names the peer
/// in the error.
///
/// # Errors
/// When the script cannot run or cannot fetch the packages.
pub fn peers_root(package: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/peers.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "peers.sh could not fetch {package}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
