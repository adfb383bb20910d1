//! Character data of one element, with the edge-whitespace rule of the serializer.

use super::is_xml_whitespace;

/// Collects an element's character data, trimming whitespace that was written literally at the
/// start and end (pretty-printing by phones, p. 33-34) but never whitespace that came from a
/// character reference or CDATA: that is how the serializer protects meaningful edge whitespace,
/// so every value survives a round trip.
#[derive(Default)]
pub(super) struct TextCollector {
    buffer: String,
    started: bool,
    trailing_literal_whitespace: usize,
}

impl TextCollector {
    pub(super) fn push_literal(&mut self, mut text: &str) {
        if !self.started {
            text = text.trim_start_matches(is_xml_whitespace);
            if text.is_empty() {
                return;
            }
            self.started = true;
        }
        let kept = text.trim_end_matches(is_xml_whitespace).len();
        if kept == 0 {
            self.trailing_literal_whitespace += text.len();
        } else {
            self.trailing_literal_whitespace = text.len() - kept;
        }
        self.buffer.push_str(text);
    }

    pub(super) fn push_protected(&mut self, text: &str) {
        self.started = true;
        self.trailing_literal_whitespace = 0;
        self.buffer.push_str(text);
    }

    pub(super) fn finish(mut self) -> String {
        self.buffer.truncate(self.buffer.len() - self.trailing_literal_whitespace);
        self.buffer
    }
}
