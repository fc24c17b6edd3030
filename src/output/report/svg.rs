//! What the drawings share: numbers for SVG attributes, times relative to
//! the start, and the time axis.

use std::fmt::Write;

/// `v` with one decimal at most (`12`, `12.5`).
pub fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// A time after the start: `0`, `850µs`, `12.3ms`, `1.20s`.
pub fn relative(ns: u64) -> String {
    match ns {
        0 => "0".to_string(),
        _ => crate::output::duration(ns),
    }
}

/// Times `t0..t1` onto `x0..x0 + width`.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// The first time.
    pub t0: u64,
    /// The last time (after `t0`).
    pub t1: u64,
    /// Where `t0` is.
    pub x0: f64,
    /// How wide `t0..t1` is.
    pub width: f64,
}

impl Scale {
    /// The scale of `t0..t1` (a span of at least 1 µs).
    pub fn new(t0: u64, t1: u64, x0: f64, width: f64) -> Scale {
        const MIN_SPAN: u64 = 1_000;
        let (t0, t1) = match t0.checked_add(MIN_SPAN) {
            Some(end) => (t0, t1.max(end)),
            None => (u64::MAX - MIN_SPAN, u64::MAX),
        };
        Scale { t0, t1, x0, width }
    }

    /// Where `ts` is (clamped to the span).
    pub fn x(&self, ts: u64) -> f64 {
        let ts = ts.clamp(self.t0, self.t1);
        self.x0 + (ts - self.t0) as f64 * self.width / (self.t1 - self.t0) as f64
    }

    /// The time under `x`.
    pub fn t(&self, x: f64) -> u64 {
        let f = ((x - self.x0) / self.width).clamp(0.0, 1.0);
        self.t0 + (f * (self.t1 - self.t0) as f64) as u64
    }

    /// A tick step of 1, 2 or 5 times a power of ten ns, for at most 10 ticks.
    pub fn step(&self) -> u64 {
        let span = self.t1 - self.t0;
        let mut unit: u64 = 1;
        loop {
            for m in [1, 2, 5] {
                let step = unit.saturating_mul(m);
                if span / step <= 10 {
                    return step;
                }
            }
            unit = unit.saturating_mul(10);
        }
    }

    /// Tick marks and labels across `y0..y1`, labels above `y0`.
    pub fn axis(&self, out: &mut String, y0: f64, y1: f64) {
        let step = self.step();
        let span = self.t1 - self.t0;
        let mut rel = 0;
        while rel <= span {
            let x = num(self.x(self.t0 + rel));
            let _ = write!(
                out,
                "<line class=\"tick\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>\
                 <text class=\"t\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">+{}</text>",
                num(y0),
                num(y1),
                num(y0 - 6.0),
                relative(rel)
            );
            rel = match rel.checked_add(step) {
                Some(r) => r,
                None => break,
            };
        }
    }
}
