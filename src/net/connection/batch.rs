//! Messages read from a connection and not yet handled.

/// What a message in a [`Batch`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// JSON text (a text frame, or a binary frame that is UTF-8).
    Text,
    /// A binary frame that is not UTF-8: answered with an error.
    BadBinary,
}

/// Messages copied out of tungstenite's buffer, in the order received.
///
/// A read round reads a few messages, then hands them to the engine: the
/// two loops each stay in the processor's caches, which handing over one
/// message at a time does not. Copied into one reusable buffer, a payload
/// is released by tungstenite as soon as it is read.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    data: String,
    /// (start, end, kind) of each message in `data`.
    spans: Vec<(usize, usize, Kind)>,
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
        let start = self.data.len();
        self.data.push_str(text);
        self.spans.push((start, self.data.len(), Kind::Text));
    }

    pub(super) fn push_bad_binary(&mut self) {
        let at = self.data.len();
        self.spans.push((at, at, Kind::BadBinary));
    }

    /// Message `i`.
    pub fn get(&self, i: usize) -> (Kind, &str) {
        let (start, end, kind) = self.spans[i];
        (kind, &self.data[start..end])
    }

    /// Moves the messages from `from` on to the end of `to`.
    pub fn move_from(&self, from: usize, to: &mut Batch) {
        for i in from..self.len() {
            match self.get(i) {
                (Kind::Text, text) => to.push_text(text),
                (Kind::BadBinary, _) => to.push_bad_binary(),
            }
        }
    }

    /// Empties the batch, keeping its buffer unless a burst made it large.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.data.clear();
        if self.data.capacity() > 1 << 20 {
            self.data = String::new();
        }
    }
}
