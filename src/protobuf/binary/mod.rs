//! Version-exact schemas from a Go binary: the protobuf descriptors that
//! containerd, its shims, dockerd or any Go gRPC program compiled in, so
//! that traffic is decoded with the very definitions the program uses.
//!
//! [`BinarySchemas::from_path`] reads an executable (at most
//! [`MAX_BINARY_BYTES`]); a running program's is `/proc/PID/exe`, which
//! also reaches the binaries of processes in containers (their files are
//! not in our mount namespace) and binaries replaced or deleted since the
//! process started. Then:
//!
//! - [`scan`] finds the descriptors (gzip members and raw serialized ones);
//! - [`pool`] builds one consistent [`DescriptorPool`] from them, with a
//!   report of what was kept, renamed, borrowed and dropped;
//! - [`info`] reads what the binary says about itself (Go version, module,
//!   build IDs);
//! - [`export`] writes the files back as `.proto` source, and [`verify`]
//!   checks that what it wrote reads back the same.
//!
//! Nothing here panics on any input, and work and memory are bounded (see
//! [`scan::ScanLimits`]). [`CacheKey`] identifies an executable file, so
//! that a caller scans each one once.

pub mod export;
pub mod info;
pub mod pool;
pub mod scan;
pub mod verify;

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use prost_reflect::DescriptorPool;

use super::{SchemaSource, Schemas};
use info::BinaryInfo;
use pool::PoolReport;
use scan::{ScanLimits, ScanStats};

/// Largest file read (512 MiB): Go binaries are tens of megabytes.
pub const MAX_BINARY_BYTES: u64 = 512 << 20;

/// The schemas a binary carries, and what it says about itself.
#[derive(Clone, Debug)]
pub struct BinarySchemas {
    /// The binary's files, plus the bundled or well-known files their
    /// imports need.
    pub pool: DescriptorPool,
    /// What went into the pool and what did not.
    pub report: PoolReport,
    /// What the scan saw.
    pub scan: ScanStats,
    /// Go version, module and build IDs.
    pub info: BinaryInfo,
    /// The file that was read, for [`BinarySchemas::from_path`].
    pub key: Option<CacheKey>,
}

impl BinarySchemas {
    /// Reads and scans the executable at `path` (`/proc/PID/exe` for a
    /// running process, in a container or not).
    ///
    /// # Errors
    ///
    /// A file that cannot be opened or read, is not a regular file, or is
    /// larger than [`MAX_BINARY_BYTES`]. A file without descriptors is not
    /// an error: its pool is empty.
    pub fn from_path(path: &Path) -> anyhow::Result<BinarySchemas> {
        let (bytes, key) = read_binary(path)?;
        let mut schemas = BinarySchemas::from_bytes(&bytes);
        schemas.key = Some(key);
        Ok(schemas)
    }

    /// Scans the bytes of an executable. Never fails and never panics.
    pub fn from_bytes(bytes: &[u8]) -> BinarySchemas {
        BinarySchemas::from_bytes_with(bytes, &ScanLimits::default())
    }

    /// [`BinarySchemas::from_bytes`] with other limits.
    pub fn from_bytes_with(bytes: &[u8], limits: &ScanLimits) -> BinarySchemas {
        let scanned = scan::scan_detailed(bytes, limits);
        let bundled = Schemas::embedded();
        let (pool, report) = pool::build_pool(&scanned.found, bundled.pool());
        BinarySchemas {
            pool,
            report,
            scan: scanned.stats,
            info: BinaryInfo::parse(bytes),
            key: None,
        }
    }

    /// These schemas as a [`Schemas`] for decoding (methods indexed,
    /// secrets redacted by default), labelled as from the binary at `path`
    /// ([`SchemaSource::Binary`]).
    pub fn schemas(&self, path: &str) -> Schemas {
        let source = SchemaSource::Binary(Arc::from(path));
        Schemas::from_pool(self.pool.clone(), |_| source.clone())
    }

    /// Whether the binary defines any service (a pool of message types
    /// only, or nothing at all, decodes no method).
    pub fn has_services(&self) -> bool {
        self.pool.services().next().is_some()
    }
}

/// Identifies one version of an executable file: the same key means the
/// same file, unchanged, so its scan can be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// Device of the file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Modification time, in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Size in bytes.
    pub size: u64,
}

impl CacheKey {
    /// The key of the file that `metadata` describes.
    pub fn from_metadata(metadata: &Metadata) -> CacheKey {
        CacheKey {
            dev: metadata.dev(),
            ino: metadata.ino(),
            mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000
                + i128::from(metadata.mtime_nsec()),
            size: metadata.size(),
        }
    }

    /// The key of the file at `path` (following symbolic links, so that
    /// `/proc/PID/exe` gives the executable's).
    ///
    /// # Errors
    ///
    /// A path whose metadata cannot be read.
    pub fn of(path: &Path) -> anyhow::Result<CacheKey> {
        let metadata = std::fs::metadata(path)
            .with_context(|| format!("cannot read the metadata of {}", path.display()))?;
        Ok(CacheKey::from_metadata(&metadata))
    }
}

/// The bytes of the regular file at `path`, at most [`MAX_BINARY_BYTES`],
/// and the key of the file that was read.
pub(crate) fn read_binary(path: &Path) -> anyhow::Result<(Vec<u8>, CacheKey)> {
    let hint = if path.starts_with("/proc") {
        "; reading another user's /proc/PID/exe needs root"
    } else {
        ""
    };
    let mut file =
        File::open(path).with_context(|| format!("cannot open {}{hint}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read the metadata of {}", path.display()))?;
    if !metadata.is_file() {
        bail!(
            "{} is not a regular file; give an executable or a process ID",
            path.display()
        );
    }
    if metadata.len() > MAX_BINARY_BYTES {
        bail!(
            "{} is {} MiB, more than the {} MiB read; give a program's executable, not an image or a core dump",
            path.display(),
            metadata.len() >> 20,
            MAX_BINARY_BYTES >> 20
        );
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    (&mut file)
        .take(MAX_BINARY_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_BINARY_BYTES {
        bail!(
            "{} grew past {} MiB while it was read; give a program's executable",
            path.display(),
            MAX_BINARY_BYTES >> 20
        );
    }
    Ok((bytes, CacheKey::from_metadata(&metadata)))
}

#[cfg(test)]
mod tests;
