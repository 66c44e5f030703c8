//! Child processes of the live verbs: spawning with extra environment, in a process group of
//! their own (runner steps) or ours (`exec`), copying captured output to a log file and the
//! console, exit statuses, signals.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::record::Nanos;
use crate::runner::Clock;

/// How long output may keep draining after the process exited: a background grandchild can
/// hold the pipes open forever, and the step must still end.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

pub enum Output {
    /// The child shares our stdin, stdout and stderr (`exec`, the dbt wrapper).
    Inherit,
    /// stdin is empty; stdout and stderr go, line by line, to `log` and to our own stdout and
    /// stderr prefixed with `prefix` (runner steps); stdout alone also to `stdout_copy` (a
    /// step's `output:`).
    Capture {
        log: PathBuf,
        prefix: String,
        stdout_copy: Option<PathBuf>,
    },
}

pub struct Launch<'a> {
    pub program: &'a OsStr,
    pub args: Vec<&'a OsStr>,
    pub dir: Option<&'a Path>,
    /// Set on top of our own environment.
    pub env: Vec<(String, String)>,
    /// Variables to remove from the inherited environment (set ones win).
    pub env_remove: Vec<&'static str>,
    /// A process group of its own, so a timeout or a signal reaches everything it started.
    pub own_group: bool,
    pub output: Output,
}

pub struct Spawned {
    child: Child,
    drained: mpsc::Receiver<()>,
    readers: usize,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit and its output to drain (for at most `DRAIN_LIMIT`
    /// after the exit). Returns the exit status and the instant it exited.
    pub fn wait(mut self, clock: Clock) -> io::Result<(ExitStatus, Nanos)> {
        let status = self.child.wait()?;
        let exited = clock.now();
        let deadline = std::time::Instant::now() + DRAIN_LIMIT;
        for _ in 0..self.readers {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                break;
            }
        }
        Ok((status, exited))
    }
}

pub fn spawn(launch: Launch) -> io::Result<Spawned> {
    let mut command = Command::new(launch.program);
    command.args(&launch.args);
    if let Some(dir) = launch.dir {
        command.current_dir(dir);
    }
    for name in &launch.env_remove {
        command.env_remove(name);
    }
    command.envs(launch.env.iter().map(|(k, v)| (k, v)));
    if launch.own_group {
        command.process_group(0);
    }
    let (tx, drained) = mpsc::channel();
    match launch.output {
        Output::Inherit => {
            let child = command.spawn()?;
            Ok(Spawned {
                child,
                drained,
                readers: 0,
            })
        }
        Output::Capture {
            log,
            prefix,
            stdout_copy,
        } => {
            if let Some(parent) = log.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let log = Arc::new(Mutex::new(File::create(&log)?));
            let copy = match stdout_copy {
                Some(path) => Some(Arc::new(Mutex::new(File::create(path)?))),
                None => None,
            };
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = command.spawn()?;
            let out = child.stdout.take().expect("piped");
            let err = child.stderr.take().expect("piped");
            let prefix: Arc<str> = Arc::from(prefix);
            copy_lines(out, log.clone(), copy, prefix.clone(), false, tx.clone());
            copy_lines(err, log, None, prefix, true, tx);
            Ok(Spawned {
                child,
                drained,
                readers: 2,
            })
        }
    }
}

/// Copies a pipe to the log file and, prefixed, to our stdout or stderr, one line at a time
/// so that parallel steps never interleave within a line.
fn copy_lines(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    copy: Option<Arc<Mutex<File>>>,
    prefix: Arc<str>,
    to_stderr: bool,
    done: mpsc::Sender<()>,
) {
    // Output without newlines (`\r` progress bars) is copied in pieces of this size, so
    // memory stays bounded whatever a step prints.
    const PIECE: u64 = 64 * 1024;
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::with_capacity(256);
        let mut console = Vec::with_capacity(256);
        loop {
            line.clear();
            match (&mut reader).take(PIECE).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Ok(mut f) = log.lock() {
                let _ = f.write_all(&line);
            }
            if let Some(Ok(mut f)) = copy.as_ref().map(|c| c.lock()) {
                let _ = f.write_all(&line);
            }
            console.clear();
            console.extend_from_slice(prefix.as_bytes());
            console.extend_from_slice(&line);
            if !line.ends_with(b"\n") {
                console.push(b'\n');
            }
            // A closed console must not stop the log: errors are ignored.
            let _ = if to_stderr {
                io::stderr().lock().write_all(&console)
            } else {
                io::stdout().lock().write_all(&console)
            };
        }
        let _ = done.send(());
    });
}

/// The shell convention: the exit code, or 128 + the signal that killed the process.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// `exit status 2` (Dagu's wording) or `killed by signal 15 (SIGTERM)`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        (None, None) => "ended without a status".into(),
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Sends `sig` to every process of the group led by `pid`. 0 and 1 are refused: kill(2)
/// would read them as "our own group" and "every process".
pub fn signal_group(pid: u32, sig: i32) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory effects; a stale group only yields ESRCH.
    unsafe {
        libc::kill(-(pid as libc::pid_t), sig);
    }
}

/// Sends `sig` to one process (never 0 or 1, as above).
pub fn signal_process(pid: u32, sig: i32) {
    if pid <= 1 {
        return;
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// A file name for `name` (a step's log, a workflow's run directory), unique per name: letters,
/// digits, `-` and `_` as they are; a name with anything else (`load prod`, `load/prod`,
/// `load:prod`, `a.1`) gets those replaced by `_` and 8 hex digits of its hash, so no two
/// names share a file and no name looks like another's `.N` attempt log.
pub fn file_stem(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    if !name.is_empty() && name.chars().all(plain) {
        return name.to_owned();
    }
    let stem: String = name
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .take(64)
        .collect();
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let stem = if stem.is_empty() { "step".into() } else { stem };
    format!("{stem}-{}", crate::trace::context::hex(&hash[..4]))
}
