//! Compiling user schemas (`--proto FILE_OR_DIR`: CSI drivers, device
//! plugins, BuildKit, ...) with protox at run time, on top of the embedded
//! ones.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use prost_reflect::DescriptorPool;
use protox::file::{
    ChainFileResolver, DescriptorSetFileResolver, GoogleFileResolver, IncludeFileResolver,
};
use protox::Compiler;

/// Directory levels searched below a directory given with `--proto`.
const MAX_DIR_DEPTH: usize = 32;

/// A `.proto` file to compile, with the include directory it sits under.
struct Source {
    path: PathBuf,
    root: PathBuf,
}

/// `base` plus the schemas in `paths`; `embedded` is the encoded descriptor
/// set of `base`, for resolving imports of embedded files.
pub(super) fn compile_extra(
    base: &DescriptorPool,
    embedded: &[u8],
    paths: &[PathBuf],
) -> anyhow::Result<DescriptorPool> {
    let mut sources = Vec::new();
    let mut includes: Vec<PathBuf> = Vec::new();
    for given in paths {
        let path = fs::canonicalize(given)
            .with_context(|| format!("cannot read protobuf schema {}", given.display()))?;
        let root = if path.is_dir() {
            let before = sources.len();
            collect(&path, &path, 0, &mut sources)?;
            if sources.len() == before {
                bail!(
                    "{} holds no .proto files; give a .proto file or a directory of them",
                    given.display()
                );
            }
            path
        } else {
            let root = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            sources.push(Source {
                path,
                root: root.clone(),
            });
            root
        };
        if !includes.contains(&root) {
            includes.push(root);
        }
    }

    // The embedded files first, so that user schemas can import
    // containerd/types/*.proto or google/rpc/status.proto without copies,
    // and so that an import of a name we embed means our file, as it will in
    // the merged pool (which keeps the first file of each name).
    let mut resolver = ChainFileResolver::new();
    resolver.add(
        DescriptorSetFileResolver::decode(embedded)
            .map_err(|e| anyhow!("the embedded descriptor set is corrupt: {e}"))?,
    );
    for include in &includes {
        resolver.add(IncludeFileResolver::new(include.clone()));
    }
    resolver.add(GoogleFileResolver::new());
    let mut compiler = Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);

    for source in &sources {
        // A vendored copy of a file we embed (google/protobuf/*.proto, a
        // containerd type) would clash with ours: ours is used.
        if let Some(name) = file_name(&source.path, &source.root) {
            if base.get_file_by_name(&name).is_some() {
                continue;
            }
        }
        compiler.open_file(&source.path).map_err(|e| {
            let hint = if e.is_file_not_found() {
                "; give the directory its imports are relative to with --proto"
            } else {
                ""
            };
            anyhow!(
                "cannot compile protobuf schema {}: {e:?}{hint}",
                source.path.display()
            )
        })?;
    }

    let mut pool = base.clone();
    pool.decode_file_descriptor_set(compiler.encode_file_descriptor_set().as_slice())
        .map_err(|e| {
            anyhow!("the protobuf schemas given with --proto clash with the built-in ones ({e}); leave the duplicate definitions out")
        })?;
    Ok(pool)
}

/// Adds every `.proto` file below `dir` (not following symbolic links to
/// directories, which could loop), in name order.
fn collect(root: &Path, dir: &Path, level: usize, out: &mut Vec<Source>) -> anyhow::Result<()> {
    if level > MAX_DIR_DEPTH {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            collect(root, &path, level + 1, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") && path.is_file() {
            out.push(Source {
                path,
                root: root.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The import name of `path` under include directory `root`
/// (`a/b.proto`), if it is one.
fn file_name(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.iter().map(|p| p.to_str()).collect();
    Some(parts?.join("/"))
}
