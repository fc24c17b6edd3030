//! pcapng output: every write as a synthetic TCP segment that Wireshark
//! dissects as HTTP/2 and gRPC. The offline reader of such files (and of
//! other tools' captures) is `input`; the two share the packet comments
//! defined in [`comment`].

mod blocks;
pub mod comment;
pub mod packet;
pub mod writer;

pub use writer::PcapngWriter;
