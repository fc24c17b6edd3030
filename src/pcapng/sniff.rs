//! Is this HTTP/2? Just enough to place the preface right in a capture.

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest frame length accepted by the plausibility check: the initial
/// SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2), which gRPC's Go
/// implementation keeps. Larger limits are allowed by the RFC but would let
/// random bytes pass too easily.
const MAX_FRAME: usize = 16_384;

/// Whether `bytes`, taken as the start of a write, is a run of plausible
/// HTTP/2 frame headers: known types, the reserved bit clear, stream 0
/// exactly for connection frames. Writes of Go's framer hold whole frames,
/// so every header in the run is checked; the last frame may go on past
/// the end of the write.
pub fn looks_like_frames(bytes: &[u8]) -> bool {
    let mut pos = 0;
    let mut frames = 0;
    while pos + 9 <= bytes.len() {
        let h = &bytes[pos..pos + 9];
        let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
        let ty = h[3];
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if stream & 0x8000_0000 != 0 || len > MAX_FRAME {
            return false;
        }
        let connection_level = matches!(ty, 0x4 | 0x6 | 0x7);
        let stream_level = matches!(ty, 0x0 | 0x1 | 0x2 | 0x3 | 0x5 | 0x9);
        let ok = (connection_level && stream == 0) || (stream_level && stream != 0) || ty == 0x8;
        if !ok {
            return false;
        }
        frames += 1;
        pos += 9 + len;
    }
    frames > 0 && (pos >= bytes.len())
}

/// Whether the write is a server's first SETTINGS frame (not an ACK): what a
/// fresh HTTP/2 connection's server sends, possibly before reading the preface.
pub fn is_initial_settings(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[3] == 0x4 && bytes[4] & 0x1 == 0 && bytes[5..9] == [0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_frames() {
        let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert!(looks_like_frames(&settings));
        assert!(is_initial_settings(&settings));
        let mut two = settings.to_vec();
        two.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(looks_like_frames(&two));
        // HEADERS on stream 0 is not HTTP/2.
        assert!(!looks_like_frames(&[0, 0, 0, 1, 4, 0, 0, 0, 0]));
        // Trailing garbage shorter than a header.
        let mut bad = settings.to_vec();
        bad.extend_from_slice(&[1, 2, 3]);
        assert!(!looks_like_frames(&bad));
        assert!(!looks_like_frames(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_frames(b""));
        // A DATA frame that goes on in the next write.
        assert!(looks_like_frames(&[0, 1, 0, 0, 0, 0, 0, 0, 1, 9, 9]));
        // Longer than the initial maximum frame size: not taken for HTTP/2.
        assert!(!looks_like_frames(&[0x0f, 0x27, 0, 0, 0, 0, 0, 0, 1, 9, 9]));
    }
}
