//! Spans over https: a capture replayed (`decode --otlp-endpoint https://...`)
//! into a real collector (rotel) behind a real TLS server (socat with
//! OpenSSL) whose certificate a CA of the test's own signed. Trusted through
//! `--otlp-certificate` or `OTEL_EXPORTER_OTLP_CERTIFICATE`, every call
//! arrives; with the built-in roots alone, none does and every span is
//! counted failed; a CA file that is missing or holds no certificate stops
//! the command before it starts.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::otel::{free_port, Collector};
use common::{bin, short_tempdir};

const CAPTURE: &str = "tests/fixtures/ctr-session.pcapng";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate it signed for localhost and
/// 127.0.0.1 (`server.pem`, `server.key`), in `dir`.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=containerdsnoop test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
    );
}

/// socat terminating TLS on a free port in front of `collector`.
struct Tls {
    child: Child,
    port: u16,
}

impl Tls {
    fn start(dir: &Path, collector: &Collector) -> Tls {
        let http = collector.endpoint.rsplit(':').next().unwrap().to_string();
        let port = free_port();
        let child = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                dir.join("server.pem").display(),
                dir.join("server.key").display()
            ))
            .arg(format!("TCP:127.0.0.1:{http}"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start socat (scripts/install-deps.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not listen on {port}");
            thread::sleep(Duration::from_millis(20));
        }
        Tls { child, port }
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `decode CAPTURE --json` with `args`, and `env` set.
fn decode(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(bin());
    c.args(["decode", CAPTURE, "--json"]).args(args);
    for k in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("containerdsnoop decode")
}

fn calls(out: &Output) -> usize {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(r#""type":"call""#))
        .count()
}

#[test]
fn spans_reach_an_https_collector_through_a_ca_of_ones_own() {
    let dir = short_tempdir("cs-tls");
    make_certificates(dir.path());
    let collector = Collector::start(dir.path());
    let tls = Tls::start(dir.path(), &collector);
    let ca = dir.path().join("ca.pem");
    let url = format!("https://localhost:{}", tls.port);

    // Trusted by the flag: every call arrives.
    let out = decode(
        &[
            "--otlp-endpoint",
            &url,
            "--otlp-certificate",
            ca.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let n = calls(&out);
    assert!(n >= 10, "{n} calls");
    assert!(
        stderr.contains(&format!("{n} spans exported to {url}/v1/traces")),
        "{stderr}"
    );
    assert_eq!(collector.wait_spans(n, Duration::from_secs(20)).len(), n);

    // Trusted by the environment, as the OTLP exporters' specification
    // names it: as many again.
    let out = decode(
        &["--otlp-endpoint", &url],
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{n} spans exported")), "{stderr}");
    assert_eq!(
        collector.wait_spans(2 * n, Duration::from_secs(20)).len(),
        2 * n
    );

    // The built-in roots do not know the test's CA: nothing is sent, and
    // every span is counted failed; the decoded output is the same.
    let out = decode(&["--otlp-endpoint", &url, "--otlp-flush-timeout", "2"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(calls(&out), n);
    assert!(stderr.contains(&format!("{n} spans failed")), "{stderr}");
    assert!(
        stderr.contains("last error:") && stderr.contains("certificate"),
        "{stderr}"
    );
    thread::sleep(Duration::from_millis(500));
    assert_eq!(collector.spans().len(), 2 * n);

    // A CA file that is missing, or holds no certificate: an error before
    // anything is decoded.
    let key = dir.path().join("ca.key");
    for (file, says) in [
        (
            dir.path().join("missing.pem"),
            "cannot read the OTLP CA certificates",
        ),
        (key, "no PEM certificate"),
    ] {
        let out = decode(
            &[
                "--otlp-endpoint",
                &url,
                "--otlp-certificate",
                file.to_str().unwrap(),
            ],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
