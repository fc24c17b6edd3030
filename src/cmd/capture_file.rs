//! Opening the capture file: private (0600, captures can hold credentials),
//! never through a symlink, never over an existing file without --force;
//! and the capture a command reads.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::Fatal;

/// A second handle on an output that is a pipe, FIFO or socket, to notice
/// that its reader went away before the next write fails (`record -o - |
/// tshark -i -` when tshark quits while nothing is captured).
pub struct ReaderWatch(OwnedFd);

impl ReaderWatch {
    /// A watch on `file` when a reader can go away from it (pipe, FIFO, socket).
    pub fn of(file: &File) -> Option<ReaderWatch> {
        let kind = file.metadata().ok()?.file_type();
        if !(kind.is_fifo() || kind.is_socket()) {
            return None;
        }
        file.as_fd().try_clone_to_owned().ok().map(ReaderWatch)
    }

    /// Whether the reading end is closed: a pipe's write end reports
    /// POLLERR then, a socket POLLHUP (poll(2)).
    pub fn reader_gone(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        // SAFETY: one pollfd we own, no timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0
    }
}

/// Whether an error is the reader of our output going away (`| head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<pcap_file::PcapError>().is_some_and(
                |p| matches!(p, pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::BrokenPipe),
            )
    })
}

/// Open `path` for writing a capture (`-` is standard output).
pub fn open(path: &Path, force: bool) -> Result<File, Fatal> {
    if path == Path::new("-") {
        // A file of its own on fd 1: unbuffered (the capture is buffered
        // already) and free to move to the writing thread.
        let fd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Fatal::setup(format!("cannot write to standard output: {e}")))?;
        return Ok(File::from(fd));
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
            Ok(f)
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

/// The capture to read: the file at `path`, or standard input for `-`.
pub fn input(path: &Path) -> Result<Box<dyn Read>, Fatal> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    let f = File::open(path)
        .map_err(|e| Fatal::setup(format!("cannot open {}: {e}", path.display())))?;
    Ok(Box::new(f))
}
