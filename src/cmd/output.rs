//! Opening the capture file: private (0600, captures can hold credentials),
//! never through a symlink, never over an existing file without --force.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::Fatal;

/// Open `path` for writing a capture (`-` is standard output).
pub fn open(path: &Path, force: bool) -> Result<Box<dyn Write + Send>, Fatal> {
    if path == Path::new("-") {
        // A file of its own on fd 1: unbuffered (the capture is buffered
        // already) and free to move to the writing thread.
        use std::os::fd::AsFd;
        let fd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Fatal::setup(format!("cannot write to standard output: {e}")))?;
        return Ok(Box::new(std::fs::File::from(fd)));
    }
    let shown = path.display();
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Fatal::setup(format!(
            "{shown} is a symbolic link: containerdsnoop does not write captures through links"
        )));
    }
    let mut opts = OpenOptions::new();
    opts.write(true).mode(0o600).custom_flags(libc::O_NOFOLLOW);
    let existing = std::fs::metadata(path).ok();
    if existing
        .as_ref()
        .is_some_and(|m| !m.is_file() && !m.is_dir())
    {
        // A device or FIFO (/dev/null, a pipe to Wireshark): nothing to overwrite.
    } else if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    match opts.open(path) {
        Ok(f) => {
            // An overwritten file keeps its old mode: make it private too
            // (only regular files: never chmod /dev/null or a FIFO).
            if force && f.metadata().is_ok_and(|m| m.is_file()) {
                use std::os::unix::fs::PermissionsExt;
                let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
            }
            Ok(Box::new(f))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Fatal::setup(format!(
            "{shown} already exists: choose another name or add --force to overwrite it"
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(Fatal::setup(format!(
            "{shown} is a symbolic link: containerdsnoop does not write captures through links"
        ))),
        Err(e) => Err(Fatal::setup(format!("cannot create {shown}: {e}"))),
    }
}
