//! TLS in front of the test receivers: certificates made at test time (a CA, a certificate
//! for 127.0.0.1 signed by it, a client certificate signed by it) and a proxy that ends TLS —
//! asking for a client certificate signed by the CA when told to — then forwards the bytes to
//! a plaintext receiver. One front serves gRPC (ALPN h2) and HTTP/1.1 alike, so the receivers
//! stay as they are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The certificates, as PEM files in a temporary directory, and as DER for the server.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate from another CA, which the front refuses.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params.self_signed(&key).expect("CA certificate"), key)
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &(rcgen::Certificate, KeyPair),
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, "retrace test");
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, &issuer.0, &issuer.1)
        .expect("leaf certificate");
    (cert, key)
}

pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let authority = ca("retrace test CA");
    let server = leaf(
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        &authority,
    );
    let client = leaf(&["client"], ExtendedKeyUsagePurpose::ClientAuth, &authority);
    let other = ca("another CA");
    let stranger = leaf(&["stranger"], ExtendedKeyUsagePurpose::ClientAuth, &other);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", authority.0.pem()),
        client_cert: write("client.pem", client.0.pem()),
        client_key: write("client.key", client.1.serialize_pem()),
        stranger_cert: write("stranger.pem", stranger.0.pem()),
        stranger_key: write("stranger.key", stranger.1.serialize_pem()),
        ca_der: authority.0.der().clone(),
        server_der: server.0.der().clone(),
        server_key_der: server.1.serialize_der(),
        _dir: dir,
    }
}

/// A TLS front; stops when dropped.
pub struct TlsFront {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    /// Ends TLS on a port of its own and forwards to `backend`; with `client_auth`, only a
    /// client presenting a certificate signed by the test CA gets through the handshake.
    pub fn start(pki: &Pki, backend: SocketAddr, client_auth: bool) -> TlsFront {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca_der.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key_der.clone()));
        let mut config = builder
            .with_single_cert(vec![pki.server_der.clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A refused handshake just closes the connection, as a collector would.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            addr,
            _runtime: runtime,
        }
    }

    /// The front's `https://` endpoint for a receiver of `proto`.
    pub fn endpoint(&self, proto: super::receiver::Proto) -> String {
        match proto {
            super::receiver::Proto::Grpc => format!("https://{}", self.addr),
            _ => format!("https://{}/v1/traces", self.addr),
        }
    }
}
