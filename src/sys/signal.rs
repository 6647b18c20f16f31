//! SIGINT and SIGTERM set a flag; the data path polls it and shuts down.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Install the handlers for SIGINT and SIGTERM.
pub fn install() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain data; all-zero is a valid value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_signal as *const () as usize;
        // SAFETY: `sa.sa_mask` is a valid sigset_t to initialize.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: `sa` is fully initialized; the handler only does an atomic store.
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Has a stop signal arrived?
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Ask the data path to stop (as a signal would).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
