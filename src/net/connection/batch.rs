//! The messages of one read round.

/// A message received from a client, borrowed from a [`Batch`].
#[derive(Debug)]
pub enum Inbound<'a> {
    /// A text frame (tungstenite has checked it is UTF-8).
    Text(&'a str),
    /// A binary frame; kvws accepts it when it is UTF-8 JSON.
    Binary(&'a [u8]),
}

/// The messages of one read round, copied out of tungstenite's buffer.
///
/// Copying a message is cheaper than keeping it: while a received payload
/// is held, tungstenite's read buffer is shared and must be reallocated on
/// its next read, and every payload costs atomic reference counting. Copied
/// into one reusable buffer, the payloads are released as they are read.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// (start, end, is binary) of each message in `data`.
    spans: Vec<(usize, usize, bool)>,
}

impl Batch {
    /// Messages in the batch.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub(super) fn push_text(&mut self, text: &str) {
        self.push(text.as_bytes(), false);
    }

    pub(super) fn push(&mut self, bytes: &[u8], binary: bool) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.spans.push((start, self.data.len(), binary));
    }

    /// The messages, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = Inbound<'_>> {
        self.spans.iter().map(|&(start, end, binary)| {
            let bytes = &self.data[start..end];
            if binary {
                return Inbound::Binary(bytes);
            }
            // SAFETY: text spans are only added by `push_text`, from a `&str`
            // (tungstenite has validated it; validating again would cost as
            // much as parsing the message).
            Inbound::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
        })
    }

    /// Empties the batch, keeping its buffer unless a burst made it large.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.data.clear();
        if self.data.capacity() > 1 << 20 {
            self.data = Vec::new();
        }
    }
}
