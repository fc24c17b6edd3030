//! What people and programs read: the table, NDJSON and the HTML report.
//! Items come filtered and decoded from the pipeline; these only format
//! them.

pub mod json;
pub mod layout;
pub mod per_subject;
pub mod report;
pub mod table;
pub mod time;

/// Wall-clock time now, ns since the epoch.
pub fn time_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The name of a gRPC status code.
pub fn grpc_status_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("UNKNOWN_CODE")
}

/// A method path shortened for the table: the service's own name and the
/// method, without the package (`--full` shows the whole path).
pub fn short_method(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    let Some((service, _)) = p.rsplit_once('/') else {
        return p;
    };
    &p[service.rfind('.').map_or(0, |dot| dot + 1)..]
}

/// A duration for people: `850µs`, `12.3ms`, `1.20s`.
pub fn duration(ns: u64) -> String {
    if ns < 1_000_000 {
        format!("{}µs", ns / 1000)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

/// A duration as short as it is exact: a whole number of its largest unit
/// (`2s`, `500ms`, `10m`), else [`duration`] (`2.00s` for 1999945 µs).
pub fn duration_short(ns: u64) -> String {
    const UNITS: [(u64, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "µs"),
        (1, "ns"),
    ];
    match UNITS.iter().find(|(u, _)| ns >= *u) {
        Some((u, name)) if ns % u == 0 => format!("{}{name}", ns / u),
        _ => duration(ns),
    }
}

#[cfg(test)]
mod tests;
