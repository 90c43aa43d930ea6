//! The process's limit on open descriptors: raised to its hard limit at start (systemd and
//! most shells give 1024 soft, with a far higher hard limit), so a source tailing thousands
//! of files, its sinks and its checkpoints all get descriptors; read by sources that bound
//! their own use under it (`max_open_files`).

/// Raises the soft limit on open descriptors to the hard limit; returns the soft limit now.
pub fn raise() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with a pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// The soft limit on open descriptors now.
pub fn soft() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain syscall with a pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_never_lowers() {
        let before = super::soft();
        assert!(super::raise() >= before);
        assert_eq!(super::soft(), super::raise());
    }
}
