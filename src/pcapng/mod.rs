//! pcapng output: every write as a synthetic TCP segment that Wireshark
//! dissects as HTTP/2 and gRPC.

mod blocks;
pub mod packet;
pub mod reader;
pub mod sniff;
pub mod writer;

pub use writer::PcapngWriter;
