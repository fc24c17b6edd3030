//! `--method GLOB`, applied once in the pipeline: `*` matches any run of
//! characters, `?` one character.

/// Whether `text` matches the glob `pat`.
pub fn matches(pat: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The `--method` filter: a call is shown when any glob matches its full
/// path (`/pkg.Service/Method`), or the path without its leading slash.
#[derive(Clone, Debug, Default)]
pub struct MethodFilter {
    globs: Vec<String>,
}

impl MethodFilter {
    /// A filter from `--method` values (none: everything passes).
    pub fn new(globs: &[String]) -> Self {
        MethodFilter {
            globs: globs.to_vec(),
        }
    }

    /// Whether items of a call on `path` (None: unknown) are shown.
    pub fn accepts(&self, path: Option<&str>) -> bool {
        if self.globs.is_empty() {
            return true;
        }
        let Some(path) = path else { return false };
        let bare = path.trim_start_matches('/');
        self.globs
            .iter()
            .any(|g| matches(g, path) || matches(g, bare))
    }

    /// Whether the filter shows everything.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }
}

#[cfg(test)]
mod tests;
