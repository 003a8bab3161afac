//! Following WebSocket frame boundaries in the bytes the wire hands over
//! (see the `wire` module documentation): [`Frames`] reads just enough of
//! each frame header to know where the frame ends, so that after a large
//! frame tungstenite can be left holding no unread byte. Separate from the
//! wire's reads because it is pure arithmetic over bytes, tested on its own.

use super::LARGE_FRAME;

/// Where the bytes handed to tungstenite stand relative to frame boundaries.
#[derive(Default, Debug)]
pub(super) struct Frames {
    header: [u8; 14],
    /// Bytes of the current frame's header seen (0: at a frame boundary).
    header_len: usize,
    /// Payload bytes of the current frame not yet handed over.
    payload_left: u64,
    /// A large frame was seen since tungstenite's buffer was last renewed.
    pub(super) large: bool,
    /// The current frame carries data (not a ping, pong or close).
    data: bool,
    /// Payload bytes of data frames handed over since the connection last
    /// completed a message: about the size of the one being assembled.
    pub(super) data_bytes: usize,
}

impl Frames {
    /// The header length once its first two bytes are known.
    fn header_size(&self) -> usize {
        let len_code = self.header[1] & 0x7f;
        let extended = match len_code {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        2 + extended + mask
    }

    fn payload_len(&self) -> u64 {
        match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        }
    }

    /// How many of `bytes` may be handed over now (all of them, unless a
    /// large frame makes the wire stop at the end of the current frame),
    /// and follows the boundaries through them.
    pub(super) fn take(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            // The usual case, a whole header in hand: read it in place.
            if self.payload_left == 0
                && self.header_len == 0
                && let Some((size, len)) = whole_header(&bytes[at..])
            {
                self.data = bytes[at] & 0x08 == 0;
                at += size;
                self.payload_left = len;
                if len >= LARGE_FRAME {
                    self.large = true;
                }
                if self.large && len == 0 {
                    return at;
                }
                continue;
            }
            if self.payload_left > 0 {
                let n = (bytes.len() - at).min(self.payload_left.min(usize::MAX as u64) as usize);
                at += n;
                self.payload_left -= n as u64;
                if self.data {
                    self.data_bytes = self.data_bytes.saturating_add(n);
                }
                if self.payload_left == 0 && self.large {
                    return at;
                }
                continue;
            }
            // In a header.
            let need = if self.header_len < 2 {
                2
            } else {
                self.header_size()
            };
            let n = (need - self.header_len).min(bytes.len() - at);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[at..at + n]);
            self.header_len += n;
            at += n;
            if self.header_len < 2 || self.header_len < self.header_size() {
                if self.large {
                    return at;
                }
                continue;
            }
            // The header is complete.
            self.data = self.header[0] & 0x08 == 0;
            let len = self.payload_len();
            self.header_len = 0;
            self.payload_left = len;
            if len >= LARGE_FRAME {
                self.large = true;
            }
            if self.large && len == 0 {
                return at;
            }
        }
        at
    }

    pub(super) fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }
}

/// The size and payload length of the frame header at the start of `b`,
/// if all of it is there.
fn whole_header(b: &[u8]) -> Option<(usize, u64)> {
    let code = b.get(1)? & 0x7f;
    let masked = b[1] & 0x80 != 0;
    let (ext, len) = match code {
        126 => (
            2,
            u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(b.get(2..10)?.try_into().ok()?)),
        n => (0, u64::from(n)),
    };
    let size = 2 + ext + if masked { 4 } else { 0 };
    (b.len() >= size).then_some((size, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked frame header for a payload of `len` bytes.
    fn header(len: usize) -> Vec<u8> {
        let mut h = vec![0x81];
        match len {
            n if n < 126 => h.push(0x80 | n as u8),
            n if n <= 0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                h.push(0x80 | 127);
                h.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        h.extend_from_slice(&[0; 4]);
        h
    }

    #[test]
    fn small_frames_pass_in_one_piece() {
        let mut f = Frames::default();
        let mut bytes = header(3);
        bytes.extend_from_slice(b"abc");
        bytes.extend(header(1));
        bytes.push(b'd');
        assert_eq!(f.take(&bytes), bytes.len());
        assert!(f.at_boundary() && !f.large);
    }

    #[test]
    fn a_large_frame_is_handed_over_up_to_its_end_only() {
        let mut f = Frames::default();
        let big = LARGE_FRAME as usize;
        let mut bytes = header(big);
        let h = bytes.len();
        bytes.resize(h + big, b'x');
        bytes.extend(header(1));
        bytes.push(b'y');
        // Split at arbitrary points, as reads would.
        let mut handed = 0;
        for chunk in [5usize, 1000, 70_000] {
            let end = (handed + chunk).min(bytes.len());
            handed += f.take(&bytes[handed..end]);
        }
        assert_eq!(handed, h + big, "stops at the large frame's end");
        assert!(f.large && f.at_boundary());
        // Then the next frame, up to its end and no further.
        let pieces: Vec<usize> = (0..3)
            .map(|_| {
                let n = f.take(&bytes[handed..]);
                handed += n;
                n
            })
            .collect();
        assert_eq!(pieces, [7, 0, 0]);
        assert_eq!(handed, bytes.len());
    }

    #[test]
    fn headers_split_across_reads_are_followed() {
        let mut f = Frames::default();
        let mut bytes = header(300);
        bytes.resize(bytes.len() + 300, b'z');
        let mut handed = 0;
        for chunk in [1, 1, 1, 1, 1, 1, 1000] {
            let end = (handed + chunk).min(bytes.len());
            handed += f.take(&bytes[handed..end]);
        }
        assert_eq!(handed, bytes.len());
        assert!(f.at_boundary() && !f.large);
    }
}
