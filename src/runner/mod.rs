//! The live verbs: the built-in workflow runner (`retrace run`), `retrace exec` and the dbt
//! wrapper (`retrace dbt --run`). They run real processes and produce the same records and
//! spans as the conversions, while it happens.

pub mod engine;
pub mod exec;
pub mod live;
pub mod process;
pub mod signals;
pub mod spec;
pub mod step_report;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::record::Nanos;
use crate::sink::config::EnvSnapshot;
use crate::trace::build::Identity;

/// Wall-clock nanoseconds that never go backwards within one run: the wall time at start
/// plus monotonic time since, so a clock step mid-run cannot make a span end before it began.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall: Nanos,
    at: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as Nanos);
        Clock {
            wall,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> Nanos {
        self.wall + self.at.elapsed().as_nanos() as Nanos
    }
}

/// The OTEL_* variables retrace took out of its own environment (see `EnvSnapshot::take`):
/// children get them back, so an instrumented child exports where we do.
pub fn inherited_otel(env: &EnvSnapshot) -> Vec<(String, String)> {
    env.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Puts a child process inside `span`: sets `TRACEPARENT`, and `TRACESTATE` — or removes
/// it, so that a stale inherited one cannot pair with the new parent.
pub fn enter_span(
    set: &mut Vec<(String, String)>,
    remove: &mut Vec<&'static str>,
    identity: &Identity,
    span: [u8; 8],
) {
    set.push(("TRACEPARENT".into(), identity.traceparent(span)));
    if identity.tracestate.is_empty() {
        remove.push("TRACESTATE");
    } else {
        set.push(("TRACESTATE".into(), identity.tracestate.clone()));
    }
}

/// A new run id: a UUID version 7 (time-ordered, like Dagu's run ids), its random part from
/// the OS.
pub fn new_run_id(clock: &Clock) -> String {
    let mut bytes = [0u8; 16];
    let random = random_bytes::<10>();
    let millis = (clock.now() / 1_000_000) as u64;
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    let hex = crate::trace::context::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut out = [0u8; N];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if filled.is_err() {
        // No /dev/urandom (a bare chroot): pid and time still make a collision unlikely.
        use sha2::Digest;
        let seed = format!("{}:{:?}", std::process::id(), SystemTime::now());
        out.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes())[..N]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_uuid_v7_and_distinct() {
        let clock = Clock::start();
        let a = new_run_id(&clock);
        let b = new_run_id(&clock);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert!(crate::trace::ids::uuid_bytes(&a).is_some());
    }

    #[test]
    fn the_clock_does_not_go_backwards() {
        let clock = Clock::start();
        let t1 = clock.now();
        let t2 = clock.now();
        assert!(t2 >= t1);
    }
}
