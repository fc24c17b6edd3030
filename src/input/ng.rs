//! pcapng: blocks framed here, parsed by pcap-file. Each interface keeps
//! its own timestamp unit (if_tsresol, default µs) and offset, which
//! pcap-file leaves to its caller (it reads every stamp as nanoseconds).

use std::io::Read;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::name_resolution::NameResolutionOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::{Block, PcapNgParser};

use super::buffer::Input;
use super::tcp::PacketMeta;
use super::{link, malformed, ReadError, State, MAX_BLOCK, PCAPNG_MAGIC};
use crate::flow::Sink;
use crate::pcapng::comment;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const NRB: u32 = 4;
const SPB: u32 = 3;
const EPB: u32 = 6;
/// Interfaces one section may describe.
const MAX_INTERFACES: usize = 1 << 16;

/// A pcapng interface, as far as reading its packets goes.
struct Interface {
    linktype: u32,
    name: Option<String>,
    /// if_tsresol: units per second as a power of 10, or of 2 with the top bit set.
    tsresol: u8,
    /// if_tsoffset: seconds to add.
    tsoffset: i64,
}

/// Nanoseconds since the epoch from a pcapng timestamp in the interface's units.
pub fn timestamp_ns(raw: u64, tsresol: u8, tsoffset: i64) -> u64 {
    let exp = u32::from(tsresol & 0x7f);
    let ns: u128 = if tsresol & 0x80 != 0 {
        (u128::from(raw) * 1_000_000_000) >> exp
    } else if exp <= 9 {
        u128::from(raw) * 10u128.pow(9 - exp)
    } else {
        10u128
            .checked_pow(exp - 9)
            .map_or(0, |div| u128::from(raw) / div)
    };
    let ns = ns as i128 + i128::from(tsoffset) * 1_000_000_000;
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

/// One section: its parser (which knows the byte order) and interfaces.
struct Section {
    parser: PcapNgParser,
    interfaces: Vec<Interface>,
    /// Written by containerdsnoop: interface names are socket paths.
    ours: bool,
    /// Time of the last packet (Simple Packet Blocks carry none).
    last_ts: u64,
}

/// Read every block.
pub fn read<R: Read>(
    input: &mut Input<R>,
    st: &mut State,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let mut section: Option<Section> = None;
    let mut little = true;
    loop {
        let at = input.offset;
        let Some((ty, len)) = frame(input, &mut little)? else {
            return Ok(());
        };
        let block = &input.available()[..len];
        match ty {
            SHB => {
                let (_, parser) = PcapNgParser::new(block).map_err(|e| malformed(at, e))?;
                let ours = parser.section().options.iter().any(|o| {
                    matches!(o, SectionHeaderOption::UserApplication(a)
                        if a.starts_with("containerdsnoop"))
                });
                let last_ts = section.as_ref().map_or(0, |s| s.last_ts);
                section = Some(Section {
                    parser,
                    interfaces: vec![],
                    ours,
                    last_ts,
                });
            }
            IDB | EPB | SPB | PB => {
                let Some(s) = section.as_mut() else {
                    return Err(malformed(at, "block before the section header"));
                };
                s.block(at, ty, block, st, sink)?;
            }
            // Our notes of the binaries whose schemas were used.
            NRB => {
                if let Some(s) = section.as_mut().filter(|s| s.ours) {
                    s.notes(block, st);
                }
            }
            // Statistics, journal, custom and unknown blocks say nothing we need.
            _ => {}
        }
        input.consume(len);
    }
}

/// Make the next whole block available and return its type and length;
/// None at a clean end of input. A section header sets the byte order.
fn frame<R: Read>(
    input: &mut Input<R>,
    little: &mut bool,
) -> Result<Option<(u32, usize)>, ReadError> {
    let at = input.offset;
    if !input.fill(12)? {
        if input.available().is_empty() {
            return Ok(None);
        }
        return Err(ReadError::Truncated { offset: at });
    }
    let head = &input.available()[..12];
    if head[..4] == PCAPNG_MAGIC {
        *little = match head[8..12] {
            [0x4d, 0x3c, 0x2b, 0x1a] => true,
            [0x1a, 0x2b, 0x3c, 0x4d] => false,
            _ => {
                return Err(malformed(
                    at,
                    "section header with an unknown byte-order magic",
                ))
            }
        };
    }
    let word = |b: &[u8], i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if *little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let ty = word(head, 0);
    let len = word(head, 4) as usize;
    if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
        return Err(malformed(at, format_args!("block length {len}")));
    }
    if !input.fill(len)? {
        return Err(ReadError::Truncated { offset: at });
    }
    if word(&input.available()[..len], len - 4) as usize != len {
        return Err(malformed(
            at,
            "block trailer length differs from its header",
        ));
    }
    Ok(Some((ty, len)))
}

impl Section {
    /// The schema notes of a name resolution block; a block that does not
    /// parse says nothing.
    fn notes(&mut self, block: &[u8], st: &mut State) {
        let Ok((_, Block::NameResolution(nrb))) = self.parser.next_block(block) else {
            return;
        };
        for o in &nrb.options {
            if let NameResolutionOption::Comment(c) = o {
                if let Some(note) = comment::parse_schemas(c) {
                    st.schema_note(note);
                }
            }
        }
    }
    /// An interface description or a packet block.
    fn block(
        &mut self,
        at: u64,
        ty: u32,
        block: &[u8],
        st: &mut State,
        sink: &mut dyn Sink,
    ) -> Result<(), ReadError> {
        let parsed = match self.parser.next_block(block) {
            Ok((_, b)) => b,
            Err(e) if ty == IDB => return Err(malformed(at, e)),
            // A packet block pcap-file rejects (say, a bad option): skip that packet only.
            Err(_) => {
                st.packets += 1;
                st.skipped += 1;
                return Ok(());
            }
        };
        // Where the packet data starts in each kind of block (pcapng spec
        // sections 4.3, 4.4, appendix A): after the fixed fields.
        let (iface_id, raw_ts, data, comment, data_at) = match &parsed {
            Block::InterfaceDescription(idb) => return self.interface(at, idb),
            Block::EnhancedPacket(b) => {
                let comment = b.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.as_ref()),
                    _ => None,
                });
                // pcap-file made a Duration of the raw count: take the count back.
                let raw = b.timestamp.as_nanos() as u64;
                (b.interface_id, Some(raw), b.data.as_ref(), comment, 28)
            }
            Block::Packet(b) => (
                u32::from(b.interface_id),
                Some(b.timestamp),
                b.data.as_ref(),
                None,
                28,
            ),
            Block::SimplePacket(b) => {
                // The data runs on into the block's padding.
                let n = (b.original_len as usize).min(b.data.len());
                (0, None, &b.data[..n], None, 12)
            }
            _ => return Err(malformed(at, "unexpected block type")),
        };
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            return Err(malformed(
                at,
                format_args!("packet on undescribed interface {iface_id}"),
            ));
        };
        if !link::supported(iface.linktype) {
            // Packets of an unknown link type beside readable ones are skipped.
            if !self.interfaces.iter().any(|i| link::supported(i.linktype)) {
                return Err(ReadError::UnsupportedLinkType(iface.linktype));
            }
            st.packets += 1;
            st.skipped += 1;
            return Ok(());
        }
        if let Some(raw) = raw_ts {
            self.last_ts = timestamp_ns(raw, iface.tsresol, iface.tsoffset);
        }
        let meta = PacketMeta {
            ts: self.last_ts,
            comment,
            iface_name: iface.name.as_deref(),
            ours: self.ours,
            frame_at: at + data_at,
        };
        st.packet(iface.linktype, data, &meta, sink)
    }

    fn interface(&mut self, at: u64, idb: &InterfaceDescriptionBlock<'_>) -> Result<(), ReadError> {
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(malformed(at, "too many interfaces in one section"));
        }
        let mut iface = Interface {
            linktype: u32::from(idb.linktype),
            name: None,
            tsresol: 6,
            tsoffset: 0,
        };
        for o in &idb.options {
            match o {
                InterfaceDescriptionOption::IfName(n) => iface.name = Some(n.to_string()),
                InterfaceDescriptionOption::IfTsResol(r) => iface.tsresol = *r,
                // The option is signed seconds (pcapng spec, section 4.2).
                InterfaceDescriptionOption::IfTsOffset(s) => iface.tsoffset = *s as i64,
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }
}
