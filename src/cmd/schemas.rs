//! `schemas`: the protobuf schemas compiled into a Go binary, listed or
//! exported as `.proto` files.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use crate::cli::SchemasArgs;
use crate::error::Fatal;
use crate::protobuf::binary::export::export;
use crate::protobuf::binary::pool::{Origin, PoolFile};
use crate::protobuf::binary::scan::Form;
use crate::protobuf::binary::verify::verify;
use crate::protobuf::binary::BinarySchemas;

/// Run `schemas`.
pub fn run(args: &SchemasArgs) -> Result<()> {
    let path = target_path(&args.target);
    if !path.exists() {
        let what = if path.starts_with("/proc") {
            format!(
                "no process {} is running; give a running process's ID or a file",
                args.target
            )
        } else {
            format!(
                "{} does not exist; give a Go executable or a process ID",
                path.display()
            )
        };
        return Err(Fatal::input(what).into());
    }
    let start = Instant::now();
    let found = BinarySchemas::from_path(&path).map_err(|e| Fatal::input(format!("{e:#}")))?;
    let elapsed = start.elapsed();
    let mut text = report(&path, &found);
    let summary = summary(&found);
    let scan = &found.scan;
    let _ = writeln!(
        text,
        "\nscanned: {} gzip descriptors (at {} gzip magics), {} raw (of {} candidates), {} identical copies",
        scan.gzip_descriptors,
        scan.gzip_magics,
        scan.raw_descriptors,
        scan.raw_candidates,
        scan.duplicates
    );
    let _ = writeln!(text, "{summary}; read in {} ms", elapsed.as_millis());
    if let Some(dir) = &args.export {
        let done = export(&found.pool, dir).map_err(|e| Fatal::output(format!("{e:#}")))?;
        let _ = writeln!(
            text,
            "exported {} .proto files to {} (for Wireshark: Preferences > Protocols > ProtoBuf > search paths)",
            done.written.len(),
            dir.display()
        );
        for why in &done.skipped {
            let _ = writeln!(text, "  not exported: {why}");
        }
        match verify(&found.pool, dir, &done.written) {
            Ok(diffs) if diffs.is_empty() => {
                let _ = writeln!(
                    text,
                    "checked: read back with protox, they define the same fields, enum values and methods"
                );
            }
            Ok(diffs) => {
                let _ = writeln!(text, "the exported files read back differently:");
                for d in diffs {
                    let _ = writeln!(text, "  {d}");
                }
            }
            Err(e) => {
                let _ = writeln!(text, "the exported files do not read back: {e:#}");
            }
        }
    }
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// `/proc/PID/exe` for a process ID (digits only), else the path given.
fn target_path(target: &str) -> PathBuf {
    if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
        PathBuf::from(format!("/proc/{target}/exe"))
    } else {
        PathBuf::from(target)
    }
}

/// The binary, then its files, dropped files and warnings.
fn report(path: &std::path::Path, s: &BinarySchemas) -> String {
    let mut t = String::new();
    let info = &s.info;
    // /proc/PID/exe and other links: the file they lead to as well.
    let shown = match std::fs::canonicalize(path) {
        Ok(real) if path.is_symlink() => format!("{} ({})", path.display(), real.display()),
        _ => path.display().to_string(),
    };
    let _ = writeln!(t, "binary      {shown}");
    let unknown = || "unknown".to_owned();
    let go = match (info.go_version.clone(), info.buildinfo_form) {
        (Some(v), _) => v,
        (None, Some("pointers")) => "before go1.18 (build information not decoded)".to_owned(),
        _ => "none (not a Go binary, or stripped)".to_owned(),
    };
    let _ = writeln!(t, "go          {go}");
    let main = match &info.main_module {
        Some(m) => format!("{} {}", m.path, m.version),
        None => format!(
            "{} (no module version recorded)",
            info.path.clone().unwrap_or_else(unknown)
        ),
    };
    let _ = writeln!(t, "main        {main}");
    if let Some(v) = info.ldflags_version() {
        let _ = writeln!(t, "version     {v} (from -ldflags -X)");
    }
    let _ = writeln!(
        t,
        "build id    {}",
        info.go_build_id.clone().unwrap_or_else(unknown)
    );
    if let Some(id) = &info.gnu_build_id {
        let _ = writeln!(t, "gnu id      {id}");
    }

    let files: Vec<&PoolFile> = {
        let mut v: Vec<&PoolFile> = s.report.binary_files().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    let _ = writeln!(t, "\nproto files ({})", files.len());
    let width = files
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0)
        .min(90);
    for f in files {
        let services: Vec<String> = f
            .services
            .iter()
            .map(|svc| {
                let short = svc.name.rsplit('.').next().unwrap_or(&svc.name);
                format!("{short}({})", svc.methods)
            })
            .collect();
        let form = match f.origin {
            Origin::Binary {
                form: Form::Raw, ..
            } => " [raw]",
            _ => "",
        };
        let _ = writeln!(
            t,
            "  {:width$}  {}{form}  {}",
            f.name,
            if f.package.is_empty() {
                "-"
            } else {
                &f.package
            },
            services.join(" ")
        );
    }
    let borrowed: Vec<String> = s
        .report
        .files
        .iter()
        .filter(|f| !matches!(f.origin, Origin::Binary { .. }))
        .map(|f| format!("{} ({})", f.name, f.origin))
        .collect();
    if !borrowed.is_empty() {
        let _ = writeln!(t, "\ntaken for imports ({})", borrowed.len());
        for b in borrowed {
            let _ = writeln!(t, "  {b}");
        }
    }
    let warnings = s.report.dropped.len() + s.report.warnings.len() + s.scan.limits_hit.len();
    if warnings > 0 {
        let _ = writeln!(t, "\nwarnings ({warnings})");
        for d in &s.report.dropped {
            let _ = writeln!(t, "  dropped {} ({}): {}", d.name, d.origin, d.reason);
        }
        for w in s.report.warnings.iter().chain(&s.scan.limits_hit) {
            let _ = writeln!(t, "  {w}");
        }
    }
    t
}

/// One line: files, packages, services, methods, forms, dropped.
fn summary(s: &BinarySchemas) -> String {
    let files: Vec<&PoolFile> = s.report.binary_files().collect();
    let raw = files
        .iter()
        .filter(|f| {
            matches!(
                f.origin,
                Origin::Binary {
                    form: Form::Raw,
                    ..
                }
            )
        })
        .count();
    let services = s.report.services().count();
    let methods: usize = s.report.services().map(|svc| svc.methods).sum();
    format!(
        "summary: {} files ({} gzip, {raw} raw) in {} packages, {services} services with {methods} methods; {} dropped, {} taken for imports",
        files.len(),
        files.len() - raw,
        s.report.packages().len(),
        s.report.dropped.len(),
        s.report.files.len() - files.len(),
    )
}
