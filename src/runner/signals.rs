//! Termination signals while a live verb waits on its children: instead of dying, retrace
//! hears SIGINT, SIGTERM and SIGHUP as events, forwards them, and still writes its records and
//! sends its spans.

use std::sync::mpsc::Sender;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Stops listening when dropped.
pub struct Listener(Handle);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Delivers every SIGINT, SIGTERM and SIGHUP to `tx`, wrapped by `event`.
pub fn listen<T: Send + 'static>(tx: Sender<T>, event: fn(i32) -> T) -> std::io::Result<Listener> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if tx.send(event(sig)).is_err() {
                break;
            }
        }
    });
    Ok(Listener(handle))
}
