//! Header block decoding (RFC 7541 §3, §6).

use bytes::{Bytes, BytesMut};

use super::table::{static_entry, DynamicTable, Entry, ENTRY_OVERHEAD, STATIC_LEN};
use super::{huffman, DecodeError, Field, Name};

/// Integers above this are refused: no legitimate index, length or table size comes near it,
/// and the bound keeps the arithmetic far from overflow on every target.
const MAX_INT: u64 = 1 << 28;

/// The least Huffman buffer allocated, so that small blocks can share one.
const MIN_HUFFMAN_ALLOC: usize = 256;

/// The outcome of decoding a complete block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    Complete,
    /// The header list exceeded `max_list_size`: the fields after the limit were not passed
    /// on, but the block was decoded to the end and the dynamic table is in step.
    TooLarge,
}

/// A Huffman buffer up to this size is kept between blocks; a larger one, left by an unusual
/// block, is dropped rather than held for the connection's life.
const HUFFMAN_RETAIN: usize = 4096;

/// The request direction's HPACK state for one connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    table: DynamicTable,
    max_table_size: usize,
    /// Huffman strings decode into this buffer, each split off as a `Bytes`. Once the fields of
    /// earlier blocks are dropped the allocation is reclaimed, so a steady stream of requests
    /// decodes its Huffman literals without allocating.
    huffman: BytesMut,
    /// The size of `huffman`'s allocation, which `BytesMut` does not tell once it is split.
    huffman_alloc: usize,
}

/// What a literal representation does with the dynamic table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Incremental,
    /// Without indexing and never indexed: the same to a decoder that does not re-encode.
    None,
}

impl Decoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE this endpoint advertises (4096 default):
    /// a dynamic table size update above it is a DecodeError.
    pub(crate) fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            huffman: BytesMut::new(),
            huffman_alloc: 0,
        }
    }

    /// Emulates this endpoint advertising a new SETTINGS_HEADER_TABLE_SIZE.
    /// Frees the scratch buffer for Huffman-coded strings (an idle connection's).
    pub(crate) fn shrink(&mut self) {
        self.huffman = BytesMut::new();
        self.huffman_alloc = 0;
    }

    #[cfg(test)]
    pub(crate) fn set_max_table_size(&mut self, max_table_size: usize) {
        self.max_table_size = max_table_size;
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete header block (the HEADERS payload plus any CONTINUATION payloads,
    /// concatenated) and calls `sink` for each field in order.
    ///
    /// Header list size is counted as RFC 9113 §6.5.2 says (name length + value length + 32
    /// per field, names as decoded). Once the running total exceeds `max_list_size`, `sink`
    /// is no longer called, but the rest of the block is still decoded so that the dynamic
    /// table stays in step with the peer's encoder; the result is then `Ok(Decoded::TooLarge)`.
    /// Otherwise `Ok(Decoded::Complete)`.
    pub(crate) fn decode(
        &mut self,
        block: Bytes,
        max_list_size: usize,
        mut sink: impl FnMut(Field),
    ) -> Result<Decoded, DecodeError> {
        let mut huffman = std::mem::take(&mut self.huffman);
        let mut huffman_alloc = self.huffman_alloc;
        let mut cur = Cursor {
            block: &block,
            pos: 0,
            huffman: &mut huffman,
            huffman_alloc: &mut huffman_alloc,
        };
        let result = self.decode_fields(&mut cur, max_list_size, &mut sink);
        if huffman_alloc <= HUFFMAN_RETAIN {
            self.huffman = huffman;
            self.huffman_alloc = huffman_alloc;
        } else {
            self.huffman_alloc = 0;
        }
        result
    }

    fn decode_fields(
        &mut self,
        cur: &mut Cursor<'_>,
        max_list_size: usize,
        sink: &mut impl FnMut(Field),
    ) -> Result<Decoded, DecodeError> {
        let mut list_size = 0usize;
        let mut too_large = false;
        let mut field_seen = false;
        let mut size_updates = 0u8;

        while let Some(first) = cur.next_byte() {
            let (name, value, size) = if first & 0x80 != 0 {
                let index = cur.integer(first, 0x7f)?;
                self.indexed(index)?
            } else if first & 0x40 != 0 {
                self.literal(cur, first, 0x3f, Indexing::Incremental)?
            } else if first & 0x20 != 0 {
                // RFC 7541 §4.2: only at the start of a block, and at most two (the smallest
                // size since the last block, then the final one).
                if field_seen {
                    return Err(DecodeError("table size update after a field"));
                }
                size_updates += 1;
                if size_updates > 2 {
                    return Err(DecodeError("more than two table size updates"));
                }
                let size = cur.integer(first, 0x1f)?;
                if size > self.max_table_size {
                    return Err(DecodeError("table size update above the advertised limit"));
                }
                self.table.set_max_size(size);
                continue;
            } else {
                self.literal(cur, first, 0x0f, Indexing::None)?
            };
            field_seen = true;
            list_size = list_size.saturating_add(size);
            if list_size > max_list_size {
                too_large = true;
            }
            if !too_large {
                sink(Field { name, value });
            }
        }
        Ok(if too_large {
            Decoded::TooLarge
        } else {
            Decoded::Complete
        })
    }

    /// The field at `index` with its entry size.
    fn indexed(&self, index: usize) -> Result<(Name, Bytes, usize), DecodeError> {
        if let Some(e) = static_entry(index) {
            return Ok((e.name.clone(), Bytes::from_static(e.value), e.size()));
        }
        let e = self.dynamic(index)?;
        Ok((e.name.clone(), e.value.clone(), e.size))
    }

    /// The name at `index` with its length.
    fn indexed_name(&self, index: usize) -> Result<(Name, usize), DecodeError> {
        if let Some(e) = static_entry(index) {
            return Ok((e.name.clone(), e.name_str.len()));
        }
        let e = self.dynamic(index)?;
        Ok((e.name.clone(), e.name_len()))
    }

    fn dynamic(&self, index: usize) -> Result<&Entry, DecodeError> {
        if index == 0 {
            return Err(DecodeError("index 0"));
        }
        index
            .checked_sub(STATIC_LEN + 1)
            .and_then(|i| self.table.get(i))
            .ok_or(DecodeError("index beyond the tables"))
    }

    fn literal(
        &mut self,
        cur: &mut Cursor<'_>,
        first: u8,
        mask: u8,
        indexing: Indexing,
    ) -> Result<(Name, Bytes, usize), DecodeError> {
        let index = cur.integer(first, mask)?;
        let (name, name_len) = if index == 0 {
            let raw = cur.string()?;
            (Name::classify(&raw), raw.len())
        } else {
            self.indexed_name(index)?
        };
        let value = cur.string()?;
        let size = name_len
            .saturating_add(value.len())
            .saturating_add(ENTRY_OVERHEAD);
        if indexing == Indexing::Incremental {
            if size <= self.table.max_size() {
                // A copy of its own, so that the table never pins a whole block (or Huffman
                // buffer) for a small entry. The field keeps the original: sharing the copy
                // would cost a second allocation for its reference count.
                self.table.insert(Entry {
                    name: name.clone(),
                    value: Bytes::copy_from_slice(&value),
                    size,
                });
            } else {
                // RFC 7541 §4.4: an entry larger than the table empties it.
                self.table.clear();
            }
        }
        Ok((name, value, size))
    }
}

/// The read position in a block, and the decoder's Huffman buffer.
struct Cursor<'a> {
    block: &'a Bytes,
    pos: usize,
    huffman: &'a mut BytesMut,
    huffman_alloc: &'a mut usize,
}

impl Cursor<'_> {
    fn next_byte(&mut self) -> Option<u8> {
        let b = *self.block.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// An integer with an `mask`-sized prefix (RFC 7541 §5.1) whose first octet was `first`.
    fn integer(&mut self, first: u8, mask: u8) -> Result<usize, DecodeError> {
        let prefix = first & mask;
        if prefix < mask {
            return Ok(usize::from(prefix));
        }
        let mut value = u64::from(mask);
        let mut shift = 0u32;
        loop {
            let b = self.next_byte().ok_or(DecodeError("truncated integer"))?;
            // No overflow: `value` is at most 2^28 here and the addend below 2^35.
            value += u64::from(b & 0x7f) << shift;
            if value > MAX_INT {
                return Err(DecodeError("integer too large"));
            }
            if b & 0x80 == 0 {
                return usize::try_from(value).map_err(|_| DecodeError("integer too large"));
            }
            shift += 7;
            if shift > 28 {
                return Err(DecodeError("integer too long"));
            }
        }
    }

    /// A string literal (RFC 7541 §5.2): a slice of the block, or freshly Huffman-decoded.
    fn string(&mut self) -> Result<Bytes, DecodeError> {
        let first = self.next_byte().ok_or(DecodeError("truncated string"))?;
        let len = self.integer(first, 0x7f)?;
        let start = self.pos;
        let end = start
            .checked_add(len)
            .ok_or(DecodeError("string longer than the block"))?;
        let raw = self
            .block
            .get(start..end)
            .ok_or(DecodeError("string longer than the block"))?;
        if first & 0x80 == 0 {
            self.pos = end;
            return Ok(self.block.slice(start..end));
        }
        if !self.huffman.try_reclaim(huffman::max_decoded_len(len)) {
            // Enough for every Huffman string left in the block, so that this is the block's
            // only allocation for them, and no more: whatever field keeps a piece of the
            // buffer alive keeps all of it.
            let rest = self.block.len().saturating_sub(start);
            let size = huffman::max_decoded_len(rest).max(MIN_HUFFMAN_ALLOC);
            *self.huffman = BytesMut::with_capacity(size);
            *self.huffman_alloc = size;
        }
        huffman::decode(raw, self.huffman)?;
        self.pos = end;
        Ok(self.huffman.split().freeze())
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
