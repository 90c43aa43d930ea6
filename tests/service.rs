//! Run as a systemd `Type=notify` service: the daemon says when it is ready, reloading and
//! stopping. systemd itself cannot run in the test container (it is not PID 1 there), so the
//! test binds the notification socket itself and records what arrives: the one fake here,
//! for a peer that cannot be started on demand.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::Scratch;

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_service_manager_is_told_ready_reloading_and_stopping() {
    let s = Scratch::new();
    std::fs::write(s.path("in.log"), "").unwrap();
    let cfg = s.config(
        "data_dir: data\n\
         pipelines:\n  \
           p:\n    \
             sources: [{type: file, include: [in.log], start_at: beginning}]\n    \
             sinks: [{type: file, path: out.log}]\n",
    );
    let socket_path = s.path("notify.sock");
    let manager = UnixDatagram::bind(&socket_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let daemon = s.start_with_env(&cfg, &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())]);

    assert_eq!(next(&manager), "READY=1\nSTATUS=1 pipeline running");
    // Ready means running: a line appended now is delivered.
    {
        use std::io::Write;
        common::append(&s.path("in.log"))
            .write_all(b"after ready\n")
            .unwrap();
    }
    assert!(common::wait_until(Duration::from_secs(10), || {
        common::lines(&s.path("out.log")) == ["after ready"]
    }));

    unsafe { libc::kill(daemon.pid(), libc::SIGHUP) };
    let reloading = next(&manager);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(&manager), "READY=1\nSTATUS=1 pipeline running");

    // `stop` asserts a clean exit, with its checkpoints written.
    daemon.stop();
    assert!(next(&manager).starts_with("STOPPING=1\n"));
}
