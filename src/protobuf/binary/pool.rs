//! One consistent descriptor pool from the files a binary registers.
//!
//! What real Go binaries register is not a set `protoc` would accept as is
//! (Debian's containerd 1.6.20, for one):
//!
//! - One name, two registrations: gogo/protobuf and golang/protobuf both
//!   register `google/protobuf/any.proto` (same types, other options), and
//!   the CRI `runtime.v1` and `runtime.v1alpha2` files are both `api.proto`.
//!   A second registration of the same package is dropped and reported; one
//!   of another package is kept under the name `PACKAGE/PATH/BASENAME`
//!   (`runtime/v1/api.proto`), reported as a warning.
//! - Imports by another name: files import `gogoproto/gogo.proto` and
//!   `github.com/gogo/protobuf/gogoproto/gogo.proto`, the binary registers
//!   `gogo.proto`. An import that no file has is resolved to the one file
//!   whose name is a path suffix of it (or of which it is a path suffix)
//!   and whose package matches its directory.
//! - Imports the binary lacks (`fieldpath.proto`, custom options only): taken
//!   from the bundled schemas or the well-known types when they have that
//!   name, else left out when nothing in the file uses them, else the file
//!   is dropped, naming the import.
//!
//! Files are added in dependency order; a file the pool rejects (a type
//! defined twice, an unresolved type) is dropped with the pool's reason, and
//! so are the files that import it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use prost_reflect::prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
use prost_reflect::DescriptorPool;

use super::scan::{Form, Found};

/// Where a file of the pool comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Found in the binary, in this form, at this byte offset.
    Binary {
        /// How it was stored.
        form: Form,
        /// Byte offset in the binary.
        offset: usize,
    },
    /// Taken from the schemas bundled with containerdsnoop, for an import.
    Bundled,
    /// Taken from the protobuf well-known types, for an import.
    WellKnown,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Binary { form, offset } => write!(f, "{} at {offset:#x}", form.name()),
            Origin::Bundled => f.write_str("bundled"),
            Origin::WellKnown => f.write_str("well-known types"),
        }
    }
}

/// A service of a file, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSummary {
    /// Full name, such as `containerd.services.tasks.v1.Tasks`.
    pub name: String,
    /// Number of methods.
    pub methods: usize,
}

/// A file in the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolFile {
    /// Its name in the pool, which its importers use.
    pub name: String,
    /// The name the binary registers it under, when that is taken by a file
    /// of another package and it was renamed.
    pub registered_as: Option<String>,
    /// Its package (empty if none).
    pub package: String,
    /// Where it comes from.
    pub origin: Origin,
    /// Top-level messages.
    pub messages: usize,
    /// Its services.
    pub services: Vec<ServiceSummary>,
}

/// A file left out of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedFile {
    /// Its name.
    pub name: String,
    /// Where it comes from.
    pub origin: Origin,
    /// Why it was left out, as a sentence.
    pub reason: String,
}

/// What [`build_pool`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolReport {
    /// The files of the pool, those of the binary first (by offset), then
    /// those taken for imports.
    pub files: Vec<PoolFile>,
    /// The files left out.
    pub dropped: Vec<DroppedFile>,
    /// Renames, resolved and left-out imports, as sentences.
    pub warnings: Vec<String>,
}

impl PoolReport {
    /// The pool's files that come from the binary.
    pub fn binary_files(&self) -> impl Iterator<Item = &PoolFile> {
        self.files
            .iter()
            .filter(|f| matches!(f.origin, Origin::Binary { .. }))
    }

    /// The packages of the binary's files in the pool, sorted.
    pub fn packages(&self) -> BTreeSet<&str> {
        self.binary_files().map(|f| f.package.as_str()).collect()
    }

    /// The services of the binary's files in the pool.
    pub fn services(&self) -> impl Iterator<Item = &ServiceSummary> {
        self.binary_files().flat_map(|f| &f.services)
    }
}

/// A file on its way into the pool.
struct Entry {
    file: FileDescriptorProto,
    origin: Origin,
    registered_as: Option<String>,
    /// Indices of the entries it imports, once resolved.
    deps: Vec<usize>,
    /// Imports found nowhere, left out of `file.dependency`.
    missing: Vec<String>,
}

/// Builds a pool from `found` (in offset order, as [`super::scan::scan`]
/// gives them), taking imports the binary lacks from `bundled` or the
/// well-known types. Never fails: what cannot be added is reported.
pub fn build_pool(found: &[Found], bundled: &DescriptorPool) -> (DescriptorPool, PoolReport) {
    let mut report = PoolReport::default();
    let mut entries = Vec::new();
    let mut by_name = HashMap::new();
    name_files(found, &mut entries, &mut by_name, &mut report);
    resolve_imports(&mut entries, &mut by_name, bundled, &mut report);
    let (order, cyclic) = dependency_order(&entries);
    let pool = add_files(&entries, &order, &cyclic, &mut report);
    for e in &entries {
        let Some(file) = pool.get_file_by_name(e.file.name()) else {
            continue;
        };
        report.files.push(PoolFile {
            name: e.file.name().to_owned(),
            registered_as: e.registered_as.clone(),
            package: e.file.package().to_owned(),
            origin: e.origin,
            messages: file.messages().len(),
            services: file
                .services()
                .map(|s| ServiceSummary {
                    name: s.full_name().to_owned(),
                    methods: s.methods().len(),
                })
                .collect(),
        });
    }
    (pool, report)
}

/// Gives each found file a unique name, or drops it.
fn name_files(
    found: &[Found],
    entries: &mut Vec<Entry>,
    by_name: &mut HashMap<String, usize>,
    report: &mut PoolReport,
) {
    for f in found {
        let name = f.file.name();
        let package = f.file.package();
        let origin = Origin::Binary {
            form: f.form,
            offset: f.offset,
        };
        let mut entry = Entry {
            file: f.file.clone(),
            origin,
            registered_as: None,
            deps: Vec::new(),
            missing: Vec::new(),
        };
        if let Some(&j) = by_name.get(name) {
            let other: &Entry = &entries[j];
            let kept = other.origin;
            if other.file.package() == package {
                let how = if same_definitions(&other.file, &f.file) {
                    "the same types with other options"
                } else {
                    "other types"
                };
                report.dropped.push(DroppedFile {
                    name: name.to_owned(),
                    origin,
                    reason: format!(
                        "a second registration of this name, defining {how}; the {kept} one is kept"
                    ),
                });
                continue;
            }
            let renamed = format!("{}/{}", package.replace('.', "/"), basename(name));
            if package.is_empty() || by_name.contains_key(&renamed) {
                report.dropped.push(DroppedFile {
                    name: name.to_owned(),
                    origin,
                    reason: format!(
                        "its name is taken by the {kept} file of package {:?}",
                        other.file.package()
                    ),
                });
                continue;
            }
            report.warnings.push(format!(
                "{name} is registered for packages {} ({kept}) and {package} ({origin}): the second is kept as {renamed}",
                other.file.package()
            ));
            entry.registered_as = Some(name.to_owned());
            entry.file.name = Some(renamed);
        }
        by_name.insert(entry.file.name().to_owned(), entries.len());
        entries.push(entry);
    }
}

/// Points every import at an entry: one of the binary's files (by name or
/// by alias), else a bundled or well-known file added as a new entry, else
/// records it as missing.
fn resolve_imports(
    entries: &mut Vec<Entry>,
    by_name: &mut HashMap<String, usize>,
    bundled: &DescriptorPool,
    report: &mut PoolReport,
) {
    let well_known = DescriptorPool::global();
    let mut basenames: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for e in entries.iter() {
        let (name, package) = (e.file.name(), e.file.package());
        basenames
            .entry(basename(name).to_owned())
            .or_default()
            .push((name.to_owned(), package.to_owned()));
    }
    let mut aliased: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut i = 0;
    while i < entries.len() {
        let imports = std::mem::take(&mut entries[i].file.dependency);
        let mut kept: Vec<String> = Vec::new();
        let mut new_index = Vec::with_capacity(imports.len());
        for import in imports {
            let target = if by_name.contains_key(&import) {
                Some(import.clone())
            } else if let Some(alias) = alias(&import, &entries[i].file, &basenames) {
                *aliased.entry((import.clone(), alias.clone())).or_default() += 1;
                Some(alias)
            } else {
                let borrowed = [(bundled, Origin::Bundled), (&well_known, Origin::WellKnown)]
                    .into_iter()
                    .find_map(|(pool, origin)| {
                        let file = pool.get_file_by_name(&import)?;
                        Some((file.file_descriptor_proto().clone(), origin))
                    });
                borrowed.map(|(file, origin)| {
                    by_name.insert(import.clone(), entries.len());
                    entries.push(Entry {
                        file,
                        origin,
                        registered_as: None,
                        deps: Vec::new(),
                        missing: Vec::new(),
                    });
                    import.clone()
                })
            };
            match target {
                Some(t) if t != entries[i].file.name() => {
                    let at = kept.iter().position(|k| *k == t).unwrap_or_else(|| {
                        kept.push(t);
                        kept.len() - 1
                    });
                    new_index.push(Some(at));
                }
                _ => {
                    entries[i].missing.push(import);
                    new_index.push(None);
                }
            }
        }
        let remap = |list: &mut Vec<i32>| {
            let mut out: Vec<i32> = Vec::new();
            for &k in list.iter() {
                let new = usize::try_from(k)
                    .ok()
                    .and_then(|k| new_index.get(k).copied().flatten())
                    .and_then(|n| i32::try_from(n).ok());
                if let Some(n) = new.filter(|n| !out.contains(n)) {
                    out.push(n);
                }
            }
            *list = out;
        };
        let e = &mut entries[i];
        remap(&mut e.file.public_dependency);
        remap(&mut e.file.weak_dependency);
        e.deps = kept
            .iter()
            .filter_map(|k| by_name.get(k).copied())
            .collect();
        e.file.dependency = kept;
        i += 1;
    }
    for ((import, alias), count) in aliased {
        report.warnings.push(format!(
            "import {import} ({count} file{}) resolved to {alias}, the name the binary registers it under",
            if count == 1 { "" } else { "s" }
        ));
    }
}

/// The one file of the binary that `import` names under another path:
/// same base name, one a path suffix of the other, and either its package
/// matches the import's directory (`gogoproto/gogo.proto` -> `gogo.proto`
/// of package `gogoproto`) or the importer uses a type of its package
/// (`github.com/moby/buildkit/api/types/worker.proto` -> `worker.proto` of
/// package `moby.buildkit.v1.types`).
fn alias(
    import: &str,
    importer: &FileDescriptorProto,
    basenames: &HashMap<String, Vec<(String, String)>>,
) -> Option<String> {
    let dir_package = import
        .rsplit_once('/')
        .map_or(String::new(), |(dir, _)| dir.replace('/', "."));
    let mut fits = basenames
        .get(basename(import))?
        .iter()
        .take(64)
        .filter(|(name, package)| {
            let related = name.strip_suffix(import).is_some_and(|p| p.ends_with('/'))
                || import
                    .strip_suffix(name.as_str())
                    .is_some_and(|p| p.ends_with('/'));
            let package_fits = !package.is_empty()
                && (dir_package == *package
                    || dir_package
                        .strip_suffix(package.as_str())
                        .is_some_and(|p| p.ends_with('.')));
            related && (package_fits || uses_package(importer, package))
        });
    let first = fits.next()?;
    fits.next().is_none().then(|| first.0.clone())
}

/// Whether `file` names a type of `package` (type names in descriptors are
/// fully qualified: `.pkg.Type`).
fn uses_package(file: &FileDescriptorProto, package: &str) -> bool {
    let in_package = |name: &str| {
        name.strip_prefix('.')
            .and_then(|n| n.strip_prefix(package))
            .is_some_and(|rest| rest.starts_with('.'))
    };
    let field_uses =
        |f: &FieldDescriptorProto| in_package(f.type_name()) || in_package(f.extendee());
    fn message_uses(m: &DescriptorProto, uses: &dyn Fn(&FieldDescriptorProto) -> bool) -> bool {
        m.field.iter().chain(&m.extension).any(uses)
            || m.nested_type.iter().any(|n| message_uses(n, uses))
    }
    !package.is_empty()
        && (file.extension.iter().any(field_uses)
            || file
                .message_type
                .iter()
                .any(|m| message_uses(m, &field_uses))
            || file
                .service
                .iter()
                .flat_map(|s| &s.method)
                .any(|m| in_package(m.input_type()) || in_package(m.output_type())))
}

/// Entries in an order where each comes after those it imports, and which
/// entries are on an import cycle. Iterative: the import graph of a hostile
/// binary may be deep.
fn dependency_order(entries: &[Entry]) -> (Vec<usize>, Vec<bool>) {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; entries.len()];
    let mut cyclic = vec![false; entries.len()];
    let mut order = Vec::with_capacity(entries.len());
    for root in 0..entries.len() {
        if state[root] != NEW {
            continue;
        }
        state[root] = OPEN;
        let mut stack = vec![(root, 0usize)];
        while let Some(&(node, next)) = stack.last() {
            match entries[node].deps.get(next) {
                Some(&dep) => {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    match state[dep] {
                        NEW => {
                            state[dep] = OPEN;
                            stack.push((dep, 0));
                        }
                        OPEN => cyclic[node] = true,
                        _ => {}
                    }
                }
                None => {
                    state[node] = DONE;
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    (order, cyclic)
}

/// Adds the entries in `order`, dropping (and reporting) those the pool
/// rejects and those that import a dropped one.
fn add_files(
    entries: &[Entry],
    order: &[usize],
    cyclic: &[bool],
    report: &mut PoolReport,
) -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    let mut added = vec![false; entries.len()];
    let mut added_files: Vec<&FileDescriptorProto> = Vec::new();
    let mut unused: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in order {
        let e = &entries[i];
        let missing = e.missing.join(", ");
        let reason = if cyclic[i] {
            Some("its imports form a cycle".to_owned())
        } else if let Some(&d) = e.deps.iter().find(|&&d| !added[d]) {
            Some(format!(
                "it imports {}, which was left out",
                entries[d].file.name()
            ))
        } else if let Some(syntax) = e
            .file
            .syntax
            .as_deref()
            .filter(|s| !["", "proto2", "proto3"].contains(s))
        {
            Some(format!(
                "its syntax {syntax:?} is not supported (proto2 and proto3 are)"
            ))
        } else {
            match add(&mut pool, &e.file, &added_files) {
                Ok(()) => None,
                Err(err) if e.missing.is_empty() => Some(format!("the pool rejects it: {err}")),
                Err(err) => Some(format!(
                    "it needs {missing}, which is neither in the binary nor bundled ({err})"
                )),
            }
        };
        match reason {
            Some(reason) => report.dropped.push(DroppedFile {
                name: e.file.name().to_owned(),
                origin: e.origin,
                reason,
            }),
            None => {
                added[i] = true;
                added_files.push(&e.file);
                for m in &e.missing {
                    *unused.entry(m).or_default() += 1;
                }
            }
        }
    }
    for (import, count) in unused {
        report.warnings.push(format!(
            "import {import} ({count} file{}) is neither in the binary nor bundled: left out, as nothing in {} uses it",
            if count == 1 { "" } else { "s" },
            if count == 1 { "that file" } else { "those files" },
        ));
    }
    pool
}

/// Adds `file` to `pool`, or says why not. A panic inside prost-reflect (a
/// bug there, on input it does not expect) is caught, and the pool rebuilt
/// from the files added `before`, which it had accepted in that order.
fn add(
    pool: &mut DescriptorPool,
    file: &FileDescriptorProto,
    before: &[&FileDescriptorProto],
) -> Result<(), String> {
    // prost-reflect reads an empty syntax as an unknown one.
    let mut file = file.clone();
    if file.syntax.as_deref() == Some("") {
        file.syntax = None;
    }
    let attempt = panic::catch_unwind(AssertUnwindSafe(|| pool.add_file_descriptor_proto(file)));
    match attempt {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => {
            let mut fresh = DescriptorPool::new();
            for f in before {
                let _ = fresh.add_file_descriptor_proto((*f).clone());
            }
            *pool = fresh;
            Err("prost-reflect failed on it (a bug there; please report the binary)".to_owned())
        }
    }
}

/// The last component of a path.
fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Whether two descriptors define the same things, options aside.
fn same_definitions(a: &FileDescriptorProto, b: &FileDescriptorProto) -> bool {
    without_options(a) == without_options(b)
}

fn without_options(file: &FileDescriptorProto) -> FileDescriptorProto {
    let mut f = file.clone();
    f.options = None;
    f.source_code_info = None;
    f.message_type.iter_mut().for_each(strip_message);
    for e in &mut f.enum_type {
        e.options = None;
        e.value.iter_mut().for_each(|v| v.options = None);
    }
    for s in &mut f.service {
        s.options = None;
        s.method.iter_mut().for_each(|m| m.options = None);
    }
    f.extension.iter_mut().for_each(strip_field);
    f
}

fn strip_message(m: &mut DescriptorProto) {
    m.options = None;
    m.field.iter_mut().for_each(strip_field);
    m.extension.iter_mut().for_each(strip_field);
    m.nested_type.iter_mut().for_each(strip_message);
    for e in &mut m.enum_type {
        e.options = None;
        e.value.iter_mut().for_each(|v| v.options = None);
    }
    m.oneof_decl.iter_mut().for_each(|o| o.options = None);
    m.extension_range.iter_mut().for_each(|r| r.options = None);
}

fn strip_field(f: &mut FieldDescriptorProto) {
    f.options = None;
    f.json_name = None;
}
