//! Timestamps: local wall-clock time for the table, RFC 3339 UTC for JSON.

/// `HH:MM:SS.micros` in local time, or `HH:MM:SS.millis` unless `micros`.
pub fn local_clock(ts_ns: u64, show_micros: bool) -> String {
    let secs = (ts_ns / 1_000_000_000) as libc::time_t;
    let micros = (ts_ns % 1_000_000_000) / 1000;
    // SAFETY: localtime_r fills the tm we own from a valid time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return format!("{secs}.{micros:06}");
        }
        tm
    };
    let (hh, mm, ss) = (tm.tm_hour, tm.tm_min, tm.tm_sec);
    match show_micros {
        true => format!("{hh:02}:{mm:02}:{ss:02}.{micros:06}"),
        false => format!("{hh:02}:{mm:02}:{ss:02}.{:03}", micros / 1000),
    }
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DDTHH:MM:SS.nanosZ`.
pub fn rfc3339(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64;
    let nanos = ts_ns % 1_000_000_000;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests;
