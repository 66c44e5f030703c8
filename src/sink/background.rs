//! Delivery off the caller's thread, for the live verbs: the runner's scheduling loop (step
//! timeouts, signals, starting the next step) and a wrapped command never wait on a slow or
//! dead collector. Parts of a run go through a bounded queue to a sender thread that owns the
//! `Delivery`; when the queue is full, the part is spooled on the spot instead of waiting.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

use crate::report::report;
use crate::sink::config::SinkConfig;
use crate::sink::delivery::{Delivery, Export};
use crate::sink::file::request;
use crate::sink::spool::{Destination, Spool};
use crate::sink::{into_chunks, resource_for};
use crate::trace::build::BuiltRun;

/// Parts waiting for the sender before new ones go to the spool instead: a run's steps end
/// one at a time, so a collector this far behind is not keeping up.
const QUEUE: usize = 256;

enum Message {
    Part(BuiltRun, bool),
    Announce(String, String),
}

pub struct Background {
    queue: Option<SyncSender<Message>>,
    sender: Option<JoinHandle<bool>>,
    config: SinkConfig,
    /// Where parts go when the queue is full (created on first use).
    overflow: Option<Spool>,
    overflowed: usize,
    lost: usize,
}

impl Background {
    /// Starts the sender; runs arrive in parts (sinks that show whole runs wait for the end).
    pub fn start(export: &Export) -> Background {
        let (queue, parts) = mpsc::sync_channel::<Message>(QUEUE);
        let owned = export.clone();
        let sender = std::thread::Builder::new()
            .name("retrace-sender".into())
            .spawn(move || {
                let mut delivery = Delivery::new(&owned);
                delivery.hold_until_finish();
                for message in parts {
                    match message {
                        Message::Part(run, last) => delivery.send_part(run, last),
                        Message::Announce(traceparent, tracestate) => {
                            delivery.announce(&traceparent, &tracestate)
                        }
                    }
                }
                delivery.finish()
            });
        let sender = match sender {
            Ok(handle) => Some(handle),
            Err(e) => {
                report(format!(
                    "cannot start the sender: {e}; spans go to the spool"
                ));
                None
            }
        };
        Background {
            queue: sender.as_ref().map(|_| queue),
            sender,
            config: export.sink.clone(),
            overflow: None,
            overflowed: 0,
            lost: 0,
        }
    }

    /// Sends some spans of a run; `last` marks the part that completes it. Never waits.
    pub fn send_part(&mut self, run: BuiltRun, last: bool) {
        let Some(queue) = &self.queue else {
            return self.spool(run);
        };
        match queue.try_send(Message::Part(run, last)) {
            Ok(()) => {}
            Err(TrySendError::Full(Message::Part(run, _)))
            | Err(TrySendError::Disconnected(Message::Part(run, _))) => self.spool(run),
            Err(_) => {}
        }
    }

    /// The run's root context, as asked (`--print-traceparent`, `--carrier-out`).
    pub fn announce(&mut self, traceparent: String, tracestate: String) {
        if let Some(queue) = &self.queue {
            // Queued first, before any part: it cannot find the queue full.
            let _ = queue.try_send(Message::Announce(traceparent, tracestate));
        }
    }

    /// Waits for the sender to deliver (or spool) what it holds; false when something was
    /// not delivered.
    pub fn finish(mut self) -> bool {
        drop(self.queue.take());
        let delivered = self
            .sender
            .take()
            .is_some_and(|sender| sender.join().unwrap_or(false));
        if self.overflowed + self.lost == 0 {
            return delivered;
        }
        let mut text = format!(
            "the collector did not keep up: {} spans were not waited for",
            self.overflowed + self.lost
        );
        if let Some(hint) = self.overflow.as_ref().and_then(Spool::kept_hint) {
            text.push_str(&format!("; {hint}"));
        }
        if self.lost > 0 {
            text.push_str(&format!("; {} lost (no spool)", self.lost));
        }
        report(text);
        false
    }

    /// A part the sender cannot take now goes to the spool, as the sender would spool it.
    fn spool(&mut self, mut run: BuiltRun) {
        let spans = std::mem::take(&mut run.spans);
        let count = spans.len();
        if self.overflow.is_none() {
            let Some(dir) = self.config.spool.clone() else {
                self.lost += count;
                return;
            };
            self.overflow = Some(Spool::new(dir, Some(Destination::of_config(&self.config))));
        }
        let resource = resource_for(&run, &self.config);
        for chunk in into_chunks(spans, self.config.chunk_size) {
            let n = chunk.len();
            let kept = self
                .overflow
                .as_mut()
                .map(|s| s.keep(&request(chunk, &resource), n));
            match kept {
                Some(Ok(())) => self.overflowed += n,
                Some(Err(e)) => {
                    report(format!("{e}; {n} spans lost"));
                    self.lost += n;
                }
                None => self.lost += n,
            }
        }
    }
}
