//! The pcapng blocks containerdsnoop writes, over pcap-file's writer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::name_resolution::{
    Ipv4Record, NameResolutionBlock, NameResolutionOption, Record,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

/// EPB flags: the packet went to the server (inbound, from the server's view).
pub const INBOUND: u32 = 1;
/// EPB flags: the packet came from the server (outbound).
pub const OUTBOUND: u32 = 2;

/// A pcapng stream: one section, one interface per socket path.
pub struct Blocks<W: Write> {
    w: PcapNgWriter<W>,
    interfaces: HashMap<String, u32>,
    /// Interfaces described so far (ids are never reused).
    described: u32,
}

impl<W: Write> Blocks<W> {
    /// Start a section with a header naming the tool and `comment`.
    pub fn new(out: W, comment: &str) -> Result<Self> {
        let shb = SectionHeaderBlock {
            endianness: Endianness::native(),
            major_version: 1,
            minor_version: 0,
            section_length: -1,
            options: vec![
                SectionHeaderOption::UserApplication(Cow::Owned(format!(
                    "containerdsnoop {}",
                    env!("CARGO_PKG_VERSION")
                ))),
                SectionHeaderOption::Comment(Cow::Owned(comment.to_string())),
            ],
        };
        let w = PcapNgWriter::with_section_header(out, shb).context("writing the pcapng header")?;
        Ok(Blocks {
            w,
            interfaces: HashMap::new(),
            described: 0,
        })
    }

    /// Forget the interface of `path` (its socket is gone): a socket bound
    /// there later gets an interface of its own.
    pub fn forget(&mut self, path: &str) {
        self.interfaces.remove(path);
    }

    /// Socket paths with an interface now.
    pub fn interfaces(&self) -> usize {
        self.interfaces.len()
    }

    /// The interface for `path`, described on first use.
    pub fn interface(&mut self, path: &str) -> Result<u32> {
        if let Some(&id) = self.interfaces.get(path) {
            return Ok(id);
        }
        let id = self.described;
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(path.to_string())),
                InterfaceDescriptionOption::IfDescription(Cow::Owned(format!(
                    "AF_UNIX stream connections on {path}, as synthetic TCP (server port 80)"
                ))),
                // pcap-file writes EPB timestamps in nanoseconds.
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.w
            .write_pcapng_block(idb)
            .context("writing a pcapng interface block")?;
        self.interfaces.insert(path.to_string(), id);
        self.described += 1;
        Ok(id)
    }

    /// Name IPv4 addresses (shown by Wireshark with name resolution on, `tshark -N n`).
    pub fn names(&mut self, names: &[([u8; 4], String)]) -> Result<()> {
        let records = names
            .iter()
            .map(|(ip, name)| {
                Record::Ipv4(Ipv4Record {
                    ip_addr: Cow::Owned(ip.to_vec()),
                    names: vec![Cow::Owned(name.clone())],
                })
            })
            .collect();
        let nrb = NameResolutionBlock {
            records,
            options: vec![],
        };
        self.w
            .write_pcapng_block(nrb)
            .context("writing a pcapng name block")?;
        Ok(())
    }

    /// A note tied to no packet: a name resolution block with no names and
    /// `comment` (pcapng allows it anywhere in the section).
    pub fn note(&mut self, comment: &str) -> Result<()> {
        let nrb = NameResolutionBlock {
            records: vec![],
            options: vec![NameResolutionOption::Comment(Cow::Owned(
                comment.to_string(),
            ))],
        };
        self.w
            .write_pcapng_block(nrb)
            .context("writing a pcapng note")?;
        Ok(())
    }

    /// One packet.
    pub fn packet(
        &mut self,
        iface: u32,
        ts_ns: u64,
        frame: &[u8],
        flags: u32,
        comment: Option<String>,
    ) -> Result<()> {
        let mut options = vec![EnhancedPacketOption::Flags(flags)];
        if let Some(c) = comment {
            options.push(EnhancedPacketOption::Comment(Cow::Owned(c)));
        }
        let epb = EnhancedPacketBlock {
            interface_id: iface,
            timestamp: Duration::from_nanos(ts_ns),
            original_len: frame.len() as u32,
            data: Cow::Borrowed(frame),
            options,
        };
        self.w
            .write_pcapng_block(epb)
            .context("writing a pcapng packet")?;
        Ok(())
    }

    /// The underlying output (to flush it).
    pub fn get_mut(&mut self) -> &mut W {
        self.w.get_mut()
    }

    /// Finish and give back the output.
    pub fn into_inner(self) -> W {
        self.w.into_inner()
    }
}
