//! Tells the service manager what the daemon is doing, by the `sd_notify` protocol
//! (systemd's `Type=notify`): `READY=1` once the pipelines have started, `RELOADING=1` while
//! a config change is applied, `STOPPING=1` while it drains. With no `NOTIFY_SOCKET` in the
//! environment (not run by systemd), nothing is sent.
//!
//! Messages are datagrams to the socket `NOTIFY_SOCKET` names (a path, or `@name` for an
//! abstract one). A manager that is gone costs one logged warning, never the daemon.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable systemd names its notification socket in.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// The service manager's notification socket, if one was given.
pub struct ServiceNotify {
    target: Option<(UnixDatagram, SocketAddr)>,
    warned: AtomicBool,
}

impl ServiceNotify {
    /// The socket `NOTIFY_SOCKET` names, or none (nothing is sent).
    pub fn from_env() -> ServiceNotify {
        let target = std::env::var_os(NOTIFY_SOCKET_ENV).and_then(|name| {
            let name = name.to_string_lossy().into_owned();
            match open(&name) {
                Ok(target) => Some(target),
                Err(e) => {
                    tracing::warn!(socket = %name, "cannot use the service manager's notification socket: {e}");
                    None
                }
            }
        });
        ServiceNotify {
            target,
            warned: AtomicBool::new(false),
        }
    }

    /// The pipelines run: `READY=1`, with what runs as the status line.
    pub fn ready(&self, pipelines: usize) {
        self.send(&format!(
            "READY=1\nSTATUS={pipelines} pipeline{} running",
            if pipelines == 1 { "" } else { "s" }
        ));
    }

    /// A config change is being applied (a `READY=1` follows when it is done).
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the config",
            monotonic_usec()
        ));
    }

    /// The daemon drains and stops.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining in-flight batches");
    }

    fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.target else {
            return;
        };
        if let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "cannot notify the service manager: {e} (further failures are not logged)"
            );
        }
    }
}

/// An unbound datagram socket and the address of `name` (`/path` or `@abstract`).
fn open(name: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = match name.strip_prefix('@') {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())?
        }
        None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
        None => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "neither an absolute path nor @name",
            ));
        }
    };
    Ok((UnixDatagram::unbound()?, addr))
}

/// `CLOCK_MONOTONIC` in microseconds, as `RELOADING=1` carries it.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(name: &str) -> ServiceNotify {
        ServiceNotify {
            target: Some(open(name).unwrap()),
            warned: AtomicBool::new(false),
        }
    }

    fn recv(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn messages_reach_a_path_socket_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        let n = listening(path.to_str().unwrap());
        n.ready(1);
        n.reloading();
        n.ready(2);
        n.stopping();
        assert_eq!(recv(&manager), "READY=1\nSTATUS=1 pipeline running");
        let reloading = recv(&manager);
        let usec = reloading
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|r| r.split('\n').next())
            .unwrap_or_else(|| panic!("{reloading}"));
        assert!(usec.parse::<u64>().unwrap() > 0);
        assert_eq!(recv(&manager), "READY=1\nSTATUS=2 pipelines running");
        assert!(recv(&manager).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn an_abstract_socket_is_named_with_an_at() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("logcatch-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&addr).unwrap();
        listening(&format!("@{name}")).stopping();
        assert!(recv(&manager).starts_with("STOPPING=1"));
    }

    #[test]
    fn a_manager_that_is_gone_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let n = listening(dir.path().join("gone").to_str().unwrap());
        n.ready(1);
        n.stopping();
        assert!(n.warned.load(Ordering::Relaxed));
        assert!(open("relative").is_err());
    }
}
