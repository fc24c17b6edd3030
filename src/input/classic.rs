//! Classic pcap (libpcap's format): both byte orders, µs and ns stamps.

use std::io::Read;

use pcap_file::pcap::PcapParser;
use pcap_file::{Endianness, TsResolution};

use super::buffer::Input;
use super::tcp::PacketMeta;
use super::{link, malformed, ReadError, State, MAX_BLOCK};
use crate::flow::Sink;

/// Read the file header and every packet record.
pub fn read<R: Read>(
    input: &mut Input<R>,
    st: &mut State,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    const HEADER: usize = 24;
    const RECORD: usize = 16;
    if !input.fill(HEADER)? {
        return Err(ReadError::Truncated { offset: 0 });
    }
    let (_, parser) =
        PcapParser::new(&input.available()[..HEADER]).map_err(|_| ReadError::NotACapture)?;
    let header = parser.header();
    // The top bits of the field can carry FCS information.
    let linktype = u32::from(header.datalink) & 0xffff;
    if !link::supported(linktype) {
        return Err(ReadError::UnsupportedLinkType(linktype));
    }
    let little = header.endianness == Endianness::Little;
    let frac_ns = match header.ts_resolution {
        TsResolution::MicroSecond => 1000,
        TsResolution::NanoSecond => 1,
    };
    input.consume(HEADER);
    loop {
        let at = input.offset;
        if !input.fill(RECORD)? {
            if input.available().is_empty() {
                return Ok(());
            }
            return Err(ReadError::Truncated { offset: at });
        }
        let h = &input.available()[8..12];
        let w = [h[0], h[1], h[2], h[3]];
        let incl = if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        } as usize;
        if incl > MAX_BLOCK {
            return Err(malformed(at, format_args!("packet record of {incl} bytes")));
        }
        if !input.fill(RECORD + incl)? {
            return Err(ReadError::Truncated { offset: at });
        }
        let record = &input.available()[..RECORD + incl];
        let (_, raw) = parser
            .next_raw_packet(record)
            .map_err(|e| malformed(at, e))?;
        let ts = u64::from(raw.ts_sec) * 1_000_000_000 + u64::from(raw.ts_frac) * frac_ns;
        let meta = PacketMeta {
            ts,
            comment: None,
            iface_name: None,
            ours: false,
            frame_at: at + RECORD as u64,
        };
        st.packet(linktype, &raw.data, &meta, sink)?;
        input.consume(RECORD + incl);
    }
}
