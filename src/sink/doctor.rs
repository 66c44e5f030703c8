//! The endpoint doctor: when the first delivery fails at the transport level, look at what
//! really listens at the endpoint and say in one line what to change. The usual mistakes
//! (OTLP/HTTP sent to the gRPC port 4317 and the reverse, https:// to a plaintext receiver
//! and the reverse, a path that is not `/v1/traces`) otherwise surface as transport errors
//! that name none of them.
//!
//! The probe opens up to three TCP connections, each sending what one kind of client opens
//! with (the HTTP/2 preface, a TLS ClientHello, an HTTP/1.1 request) and reading the first
//! bytes back, each within `PROBE_BUDGET`, so the exit stays bounded. The transport asks at
//! most once per invocation.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::sink::config::{host_and_port, path_of, Protocol, SinkConfig};

/// Connect plus first answer, per probe (three at most): a receiver answers within a round
/// trip; 250 ms keeps the three within the second the exit bound allows after `--timeout`.
const PROBE_BUDGET: Duration = Duration::from_millis(250);

/// The HTTP/2 client preface and an empty SETTINGS frame: what a gRPC client opens with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// What an OTLP/HTTP client opens with.
const H1_REQUEST: &[u8] =
    b"POST /v1/traces HTTP/1.1\r\nHost: retrace-doctor\r\nContent-Length: 0\r\n\r\n";

/// What answered the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Nothing listens (connection refused).
    Refused,
    /// Name or network problem; the OS error says which.
    Unreachable(String),
    /// An HTTP/1.x server (an OTLP/HTTP receiver, a proxy, a web server).
    Http1,
    /// An HTTP/2 server without TLS (a gRPC receiver, or an h2c-capable HTTP server).
    Http2,
    /// A TLS server.
    Tls,
    /// Accepted, then closed or said nothing within the budget.
    Silent,
}

/// What the doctor found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub text: String,
    /// A misconfiguration that retrying cannot cure (as opposed to a collector that is down,
    /// which may come back within the timeout).
    pub certain: bool,
    /// The endpoint speaks the other OTLP transport: this one would work.
    pub speaks: Option<Protocol>,
    /// Nothing listens there (connection refused).
    pub nobody_listens: bool,
}

/// One sentence saying what is wrong with the endpoint, or `None` when the failure is not one
/// the doctor recognises (a collector that answered with a real status said so itself).
pub fn diagnose(config: &SinkConfig, failure: &str) -> Option<Diagnosis> {
    let url = &config.endpoint;
    let tls = url.starts_with("https://");
    let http = config.protocol != Protocol::Grpc;
    // A silent collector has cost its time already; only a TLS handshake stuck on a
    // plaintext port is worth a look.
    let timed_out = failure.contains("within the timeout") || failure.contains("timed out");
    if timed_out {
        if !tls {
            return None;
        }
    } else if http {
        if let Some(code) = http_status(failure) {
            let path = path_of(url);
            return (code == 404 && !path.trim_end_matches('/').ends_with("/v1/traces")).then(
                || Diagnosis {
                    speaks: None,
                    nobody_listens: false,
                    text: format!(
                        "the collector has nothing at {path:?}: OTLP/HTTP receivers take traces at \
                         /v1/traces (e.g. {}/v1/traces)",
                        config.endpoint_display().trim_end_matches('/')
                    ),
                    certain: true,
                },
            );
        }
    } else if !grpc_transport_failure(failure) {
        return None;
    }
    let (host, port) = host_port(url);
    let place = format!("{host}:{port}");
    let uncertain = |text, nobody_listens| {
        Some(Diagnosis {
            text,
            certain: false,
            speaks: None,
            nobody_listens,
        })
    };
    let mut speaks = None;
    let hint = match probe(&host, port, PROBE_BUDGET) {
        Peer::Refused => {
            return uncertain(
                format!("connection refused: nothing listens on {place}"),
                true,
            )
        }
        Peer::Unreachable(why) => {
            return uncertain(format!("{place} cannot be reached: {why}"), false)
        }
        Peer::Silent => {
            return uncertain(
                format!("{place} accepts connections but answers none of HTTP/2, TLS or HTTP/1.1"),
                false,
            )
        }
        Peer::Tls if !tls => format!("{place} expects TLS: use https:// in the endpoint"),
        Peer::Http1 | Peer::Http2 if tls => {
            format!("{place} answers without TLS: use http:// in the endpoint")
        }
        Peer::Http2 if http => {
            speaks = Some(Protocol::Grpc);
            format!(
                "{place} speaks only HTTP/2, as an OTLP/gRPC receiver does: use --protocol grpc, \
                 or the collector's OTLP/HTTP port (usually 4318)"
            )
        }
        Peer::Http1 if !http => {
            speaks = Some(Protocol::HttpProtobuf);
            format!(
                "{place} answers HTTP/1.1, as an OTLP/HTTP receiver does: use --protocol \
                 http/protobuf with .../v1/traces, or the collector's OTLP/gRPC port (usually 4317)"
            )
        }
        // An HTTP server that also speaks HTTP/2 without TLS (the Collector's OTLP/HTTP
        // receiver does) answers a gRPC call with a plain HTTP status.
        Peer::Http2 if !http && failure.contains("grpc-status header missing") => {
            speaks = Some(Protocol::HttpProtobuf);
            format!(
                "{place} is an HTTP server, not a gRPC trace service: use --protocol \
                 http/protobuf with .../v1/traces, or the collector's OTLP/gRPC port (usually 4317)"
            )
        }
        _ => return None,
    };
    Some(Diagnosis {
        text: hint,
        certain: true,
        speaks,
        nobody_listens: false,
    })
}

/// `HTTP 404: …` as the transport words an answered request.
fn http_status(failure: &str) -> Option<u16> {
    failure.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// A gRPC failure that did not come from a gRPC trace service's own answer.
fn grpc_transport_failure(failure: &str) -> bool {
    [
        "gRPC Unavailable",
        "gRPC Unknown",
        "gRPC Internal",
        "gRPC Unimplemented",
        "gRPC Cancelled",
    ]
    .iter()
    .any(|p| failure.starts_with(p))
}

/// Host and port of a URL, the port defaulting by scheme.
fn host_port(url: &str) -> (String, u16) {
    let (host, port) = host_and_port(url);
    let default = if url.starts_with("https://") { 443 } else { 80 };
    (host.to_owned(), port.unwrap_or(default))
}

/// Asks `host:port` in the three ways in turn (`budget` each); the first answer that says
/// what it is wins. The preface first: plaintext HTTP/1 and HTTP/2 servers and most TLS
/// servers answer it at once; some TLS servers say nothing until they get a ClientHello.
pub fn probe(host: &str, port: u16, budget: Duration) -> Peer {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Peer::Unreachable(e.to_string()),
    };
    let hello = client_hello();
    for opening in [H2_PREFACE, &hello[..], H1_REQUEST] {
        let peer = ask(&addrs, opening, Instant::now() + budget);
        if peer != Peer::Silent {
            return peer;
        }
    }
    Peer::Silent
}

/// Sends `opening` on a fresh connection and classifies the first bytes back.
fn ask(addrs: &[SocketAddr], opening: &[u8], deadline: Instant) -> Peer {
    let mut last = Peer::Unreachable("the name resolves to no address".into());
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Peer::Silent;
        }
        let mut stream = match TcpStream::connect_timeout(addr, left) {
            Ok(stream) => stream,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                last = Peer::Refused;
                continue;
            }
            Err(e) => {
                last = Peer::Unreachable(e.to_string());
                continue;
            }
        };
        if stream.write_all(opening).is_err() {
            return Peer::Silent;
        }
        let mut answer = Vec::with_capacity(256);
        let mut buf = [0u8; 256];
        // A server may answer in pieces; nine bytes tell every case apart.
        while answer.len() < 9 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        return classify(&answer);
    }
    last
}

fn classify(answer: &[u8]) -> Peer {
    // Go's TLS server answers plaintext HTTP with a readable hint rather than an alert.
    if answer
        .windows(b"HTTPS server".len())
        .any(|w| w == b"HTTPS server")
    {
        return Peer::Tls;
    }
    match answer {
        // A TLS record: alert (21) or handshake (22), protocol major version 3.
        [21 | 22, 3, ..] => Peer::Tls,
        // A frame header (a length below 64 KiB) whose type is SETTINGS (4) or GOAWAY (7).
        [0, _, _, 4 | 7, ..] => Peer::Http2,
        // Text: a status line, or an error page without one (Python's server answers the
        // HTTP/2 preface so).
        [first, ..] if first.is_ascii_graphic() => Peer::Http1,
        _ => Peer::Silent,
    }
}

/// A TLS 1.2 ClientHello that any TLS server answers, with a ServerHello or an alert.
fn client_hello() -> Vec<u8> {
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }
    let extension = |kind: u16, body: &[u8]| -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend(with_len16(body));
        out
    };
    let mut extensions = Vec::new();
    // supported_groups: x25519, secp256r1, secp384r1.
    extensions.extend(extension(0x000a, &with_len16(&[0, 0x1d, 0, 0x17, 0, 0x18])));
    // ec_point_formats: uncompressed.
    extensions.extend(extension(0x000b, &[1, 0]));
    // signature_algorithms: rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256, rsa_pkcs1_sha256.
    extensions.extend(extension(0x000d, &with_len16(&[8, 4, 4, 3, 4, 1])));
    let mut hello = vec![3, 3]; // TLS 1.2
    hello.extend([0x5a; 32]); // random
    hello.push(0); // no session id
                   // ECDHE-ECDSA/RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384, AES128-GCM-SHA256.
    hello.extend(with_len16(&[
        0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c,
    ]));
    hello.extend([1, 0]); // compression: none
    hello.extend(with_len16(&extensions));
    let mut handshake = vec![1]; // ClientHello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![22, 3, 1];
    record.extend(with_len16(&handshake));
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_apart_by_their_first_bytes() {
        assert_eq!(classify(b"HTTP/1.1 400 Bad Request\r\n"), Peer::Http1);
        assert_eq!(classify(b"<!DOCTYPE HTML>\n<html>"), Peer::Http1);
        assert_eq!(classify(&[0, 0, 6, 4, 0, 0, 0, 0, 0]), Peer::Http2);
        assert_eq!(classify(&[0, 0, 8, 7, 0, 0, 0, 0, 0]), Peer::Http2);
        assert_eq!(classify(&[21, 3, 3, 0, 2, 2, 70]), Peer::Tls);
        assert_eq!(classify(&[22, 3, 3, 0, 90, 2, 0, 0, 86]), Peer::Tls);
        assert_eq!(
            classify(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"),
            Peer::Tls
        );
        assert_eq!(classify(b""), Peer::Silent);
    }

    #[test]
    fn host_and_port_come_from_the_url_without_userinfo() {
        assert_eq!(host_port("http://u:p@c:4318/v1/traces"), ("c".into(), 4318));
        assert_eq!(host_port("https://c/v1/traces"), ("c".into(), 443));
        assert_eq!(host_port("http://[::1]:4317"), ("::1".into(), 4317));
        assert_eq!(host_port("http://[::1]"), ("::1".into(), 80));
    }

    #[test]
    fn only_transport_failures_are_probed() {
        assert!(grpc_transport_failure(
            "gRPC Unavailable: tcp connect error"
        ));
        assert!(!grpc_transport_failure("gRPC InvalidArgument: bad span"));
        // A silent plaintext collector is not probed: the timeout said it all.
        let config = SinkConfig {
            endpoint: "http://127.0.0.1:9/v1/traces".into(),
            protocol: Protocol::HttpProtobuf,
            ..SinkConfig::disabled()
        };
        assert_eq!(diagnose(&config, "no answer within the timeout"), None);
        assert_eq!(http_status("HTTP 404: not found"), Some(404));
        assert_eq!(http_status("error sending request"), None);
    }
}
