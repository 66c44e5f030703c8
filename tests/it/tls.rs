//! TLS to the collector: the CA that signed its certificate (`--certificate`), and a client
//! certificate for a collector that asks for one (mTLS: `--client-certificate` and
//! `--client-key`, their `OTEL_EXPORTER_OTLP_*` variables, a configuration file's `tls`), over
//! gRPC and HTTP, through a TLS front (tests/it/common/tls.rs) before the usual receivers.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::cli::{retrace, stderr};
use crate::common::receiver::{Proto, Receiver};
use crate::common::tls::{pki, TlsFront};

fn snapshot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/06-snapshot")
}

/// `retrace dbt` of a 4-span run to the front, with `args`; a short deadline, no spool.
fn send(front: &TlsFront, proto: Proto, args: &[&Path], env: &[(&str, &Path)]) -> Output {
    let mut cmd = retrace();
    cmd.arg("dbt")
        .arg(snapshot())
        .args([
            "--endpoint",
            &front.endpoint(proto),
            "--protocol",
            proto.flag(),
        ])
        .args(["--timeout", "3s", "--no-spool"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `--certificate CA`, and `--client-certificate C --client-key K` when given.
fn tls_args<'a>(ca: &'a Path, client: Option<(&'a Path, &'a Path)>) -> Vec<&'a Path> {
    let mut args = vec![Path::new("--certificate"), ca];
    if let Some((cert, key)) = client {
        args.extend([
            Path::new("--client-certificate"),
            cert,
            Path::new("--client-key"),
            key,
        ]);
    }
    args
}

#[test]
fn a_collector_that_asks_for_a_client_certificate_gets_it() {
    let pki = pki();
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let rx = Receiver::start(proto);
        let front = TlsFront::start(&pki, rx.addr(), true);

        let out = send(
            &front,
            proto,
            &tls_args(&pki.ca, Some((&pki.client_cert, &pki.client_key))),
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{proto:?}: {}", stderr(&out));
        assert_eq!(
            rx.wait_spans(4, Duration::from_secs(5)).len(),
            4,
            "{proto:?}"
        );

        // The same from the OTLP variables.
        let env = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.as_path()),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                pki.client_cert.as_path(),
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.client_key.as_path()),
        ];
        let out = send(&front, proto, &[], &env);
        assert_eq!(out.status.code(), Some(0), "{proto:?}: {}", stderr(&out));
        assert_eq!(
            rx.wait_spans(8, Duration::from_secs(5)).len(),
            8,
            "{proto:?}"
        );

        // Without a client certificate, or with one from another CA, the handshake is
        // refused: nothing arrives, and the run says it was not delivered.
        for args in [
            tls_args(&pki.ca, None),
            tls_args(&pki.ca, Some((&pki.stranger_cert, &pki.stranger_key))),
        ] {
            let out = send(&front, proto, &args, &[]);
            assert_eq!(
                out.status.code(),
                Some(3),
                "{proto:?} {args:?}: {}",
                stderr(&out)
            );
        }
        assert_eq!(rx.spans().len(), 8, "{proto:?}");
    }
}

#[test]
fn the_collector_s_certificate_is_checked_against_the_ca_given() {
    let pki = pki();
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let rx = Receiver::start(proto);
        let front = TlsFront::start(&pki, rx.addr(), false);
        let out = send(&front, proto, &tls_args(&pki.ca, None), &[]);
        assert_eq!(out.status.code(), Some(0), "{proto:?}: {}", stderr(&out));
        assert_eq!(rx.wait_spans(4, Duration::from_secs(5)).len(), 4);
        // Not signed by a CA the system trusts: refused without --certificate.
        let out = send(&front, proto, &[], &[]);
        assert_eq!(out.status.code(), Some(3), "{proto:?}: {}", stderr(&out));
        assert_eq!(rx.spans().len(), 4);
    }
}

#[test]
fn a_configuration_file_s_tls_gives_the_client_certificate() {
    let pki = pki();
    let rx = Receiver::start(Proto::Grpc);
    let front = TlsFront::start(&pki, rx.addr(), true);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("otel.yaml");
    std::fs::write(
        &config,
        format!(
            "file_format: \"1.0\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_grpc:\n            endpoint: {}\n            tls:\n              ca_file: {}\n              cert_file: {}\n              key_file: {}\n",
            front.endpoint(Proto::Grpc),
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    )
    .unwrap();
    let out = retrace()
        .arg("dbt")
        .arg(snapshot())
        .args(["--timeout", "3s", "--no-spool", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rx.wait_spans(4, Duration::from_secs(5)).len(), 4);
}

#[test]
fn a_client_certificate_without_its_key_is_a_usage_error() {
    let pki = pki();
    let out = retrace()
        .arg("dbt")
        .arg(snapshot())
        .arg("--client-certificate")
        .arg(&pki.client_cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = retrace()
        .arg("dbt")
        .arg(snapshot())
        .env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &pki.client_cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "a client certificate needs its key: give both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
        ),
        "{}",
        stderr(&out)
    );
}

/// A file that is not what it should be is named with what it lacks, not "transport error".
#[test]
fn a_client_certificate_file_that_is_not_pem_is_named() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("client.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let rx = Receiver::start(proto);
        let front = TlsFront::start(&pki, rx.addr(), true);
        let out = send(
            &front,
            proto,
            &tls_args(&pki.ca, Some((&garbage, &pki.client_key))),
            &[],
        );
        assert_eq!(out.status.code(), Some(3), "{proto:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "client certificate {}: no PEM CERTIFICATE block in it",
                garbage.display()
            )),
            "{proto:?}: {}",
            stderr(&out)
        );
        // A key file holding a certificate.
        let out = send(
            &front,
            proto,
            &tls_args(&pki.ca, Some((&pki.client_cert, &pki.client_cert))),
            &[],
        );
        assert!(
            stderr(&out).contains("no PEM PRIVATE KEY block in it"),
            "{proto:?}: {}",
            stderr(&out)
        );
        assert!(rx.spans().is_empty());
    }
}
