//! The operation a request names (filled in by the API tables).

/// The name of the call `method target`: for now `METHOD /path`.
pub fn name(method: &str, target: &str) -> String {
    let path = target.split('?').next().unwrap_or_default();
    format!("{method} {path}")
}
