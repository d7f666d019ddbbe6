//! The storage log's framing: a header, then records, each checksummed.
//!
//! ```text
//! file   := MAGIC record*
//! record := len: u32 LE | len_crc: u32 LE | crc: u32 LE | payload: len bytes
//! len_crc := CRC-32C of the four bytes of len
//! crc     := CRC-32C of the payload
//! ```
//!
//! A record is appended whole and then fsynced, so a crash can cut only the record being
//! written, and only at the end of the file. Reading tells the two kinds of damage apart:
//!
//! 1. **A torn tail.** The last record is shorter than its header, or than its length says;
//!    or its payload's checksum fails and nothing but zeros follows it; or every byte from
//!    it to the end is zero (a file system may leave an unsynced extent zeroed).
//!    Its save never completed, so no message that depended on it left the server: the log
//!    is cut back to the last whole record, and nothing acknowledged is lost.
//! 2. **Corruption.** Anything else: a whole header whose length fails its own checksum, or
//!    a payload that fails its checksum with more bytes after it. That save may well have
//!    completed (a later one followed it), so what it held may have been promised or
//!    acknowledged: the server must not start without it. [`scan`] names the offset.
//!
//! The length has a checksum of its own because the payload's cannot vouch for a length:
//! a damaged length in the middle of the log that pointed past the end of the file would
//! otherwise read as a torn tail, and restarting would silently cut every save after it.
//! The header makes a file that is not a storage log (a stray file, a file of another
//! version) an error of its own.

/// The first bytes of every storage log, version included. Version 2: transfer ids carry
/// a client session, and outcomes are kept per session.
pub const MAGIC: &[u8; 16] = b"paxchain-log-v2\n";

/// The header of the one earlier version, which this build does not read.
pub const MAGIC_V1: &[u8; 16] = b"paxchain-log-v1\n";

/// Bytes before each record's payload.
pub const HEADER: usize = 12;

/// One record, framed for appending.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a save is smaller than 4 GiB");
    let len = len.to_le_bytes();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// What reading a log found.
#[derive(Debug, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The payloads of the whole records, in order, each with its offset in the file.
    pub records: Vec<(u64, &'a [u8])>,
    /// Where the whole records end: the length the file should be cut back to.
    pub end: u64,
    /// Whether bytes after `end` were a torn record.
    pub torn: bool,
}

/// Why a log cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("it does not start with the storage log's header (not a paxchain storage log, or another version)")]
    NotALog,
    #[error("it is a storage log of version 1, written by a paxchain from before client sessions; this build reads version 2 (start from an empty data directory, or run the build that wrote it)")]
    OldVersion,
    #[error("the record at byte {offset} fails its checksum, and {after} bytes follow it")]
    Corrupt { offset: u64, after: u64 },
    #[error(
        "the record at byte {offset} has a damaged length ({len} bytes, failing its checksum)"
    )]
    CorruptLength { offset: u64, len: u32 },
}

/// Splits a log's bytes into whole records (see the module's comment on damage).
pub fn scan(bytes: &[u8]) -> Result<Scan<'_>, FrameError> {
    if bytes.starts_with(MAGIC_V1) {
        return Err(FrameError::OldVersion);
    }
    if !bytes.starts_with(MAGIC) {
        return Err(FrameError::NotALog);
    }
    let mut at = MAGIC.len();
    let mut records = Vec::new();
    let torn = loop {
        match record(&bytes[at..], at as u64)? {
            Next::End => break false,
            Next::Torn => break true,
            Next::Record(payload) => {
                records.push((at as u64, payload));
                at += HEADER + payload.len();
            }
        }
    };
    Ok(Scan {
        records,
        end: at as u64,
        torn,
    })
}

/// What follows in a log.
enum Next<'a> {
    End,
    Torn,
    Record(&'a [u8]),
}

/// Reads the record at the start of `rest`, which is at byte `offset` of the file.
fn record(rest: &[u8], offset: u64) -> Result<Next<'_>, FrameError> {
    let word = |i: usize| u32::from_le_bytes(rest[i..i + 4].try_into().expect("4 bytes"));
    if rest.is_empty() {
        return Ok(Next::End);
    }
    let zeros = |b: &[u8]| b.iter().all(|&b| b == 0);
    if rest.len() < HEADER {
        return Ok(Next::Torn);
    }
    let (len, len_crc, crc) = (word(0), word(4), word(8));
    if crc32c::crc32c(&rest[..4]) != len_crc {
        if zeros(rest) {
            return Ok(Next::Torn);
        }
        return Err(FrameError::CorruptLength { offset, len });
    }
    let Some(payload) = rest.get(HEADER..HEADER + len as usize) else {
        return Ok(Next::Torn);
    };
    if crc32c::crc32c(payload) != crc {
        let tail = &rest[HEADER + payload.len()..];
        if zeros(tail) {
            return Ok(Next::Torn);
        }
        let after = tail.len() as u64;
        return Err(FrameError::Corrupt { offset, after });
    }
    Ok(Next::Record(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for p in payloads {
            bytes.extend(frame(p));
        }
        bytes
    }

    #[test]
    fn whole_records_come_back_in_order_with_their_offsets() {
        let bytes = log(&[b"one", b"", b"three"]);
        let scan = scan(&bytes).unwrap();
        let payloads: Vec<&[u8]> = scan.records.iter().map(|r| r.1).collect();
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        assert_eq!(scan.records[0].0, MAGIC.len() as u64);
        assert_eq!(scan.records[1].0, (MAGIC.len() + HEADER + 3) as u64);
        assert_eq!(scan.end, bytes.len() as u64);
        assert!(!scan.torn);
    }

    #[test]
    fn a_cut_at_every_byte_of_the_last_record_loses_that_record_only() {
        let whole = log(&[b"first save", b"second save"]);
        let first_end = MAGIC.len() + HEADER + b"first save".len();
        for cut in first_end..whole.len() {
            let scan = scan(&whole[..cut]).unwrap();
            assert_eq!(scan.records.len(), 1, "cut at {cut}");
            assert_eq!(scan.end, first_end as u64, "cut at {cut}");
            assert_eq!(scan.torn, cut > first_end, "cut at {cut}");
        }
    }

    #[test]
    fn a_damaged_last_record_is_torn_but_a_damaged_middle_one_is_corruption() {
        let mut bytes = log(&[b"first save", b"second save"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let scan = scan(&bytes).unwrap();
        assert_eq!((scan.records.len(), scan.torn), (1, true));

        let mut bytes = log(&[b"first save", b"second save"]);
        bytes[MAGIC.len() + HEADER + 2] ^= 1;
        assert_eq!(
            super::scan(&bytes),
            Err(FrameError::Corrupt {
                offset: MAGIC.len() as u64,
                after: (HEADER + b"second save".len()) as u64,
            })
        );
    }

    #[test]
    fn a_damaged_length_in_the_middle_is_corruption_wherever_it_points() {
        let whole = log(&[b"first save", b"second save", b"third save"]);
        let second = MAGIC.len() + HEADER + b"first save".len();
        for flip in [0x01, 0x10, 0x80] {
            for byte in 0..4 {
                let mut bytes = whole.clone();
                bytes[second + byte] ^= flip;
                assert!(
                    matches!(scan(&bytes), Err(FrameError::CorruptLength { offset, .. })
                        if offset == second as u64),
                    "byte {byte} of the length ^ {flip:#x}"
                );
            }
        }
    }

    #[test]
    fn a_zeroed_tail_is_torn() {
        let mut bytes = log(&[b"first save"]);
        let end = bytes.len();
        bytes.extend([0; 40]);
        let scan = scan(&bytes).unwrap();
        assert_eq!(
            (scan.records.len(), scan.end, scan.torn),
            (1, end as u64, true)
        );
    }

    #[test]
    fn a_file_without_the_header_is_not_a_log() {
        assert_eq!(scan(b"{\"promised\":1}"), Err(FrameError::NotALog));
        assert_eq!(scan(b""), Err(FrameError::NotALog));
        let mut other_version = log(&[b"x"]);
        other_version[14] = b'9';
        assert_eq!(scan(&other_version), Err(FrameError::NotALog));
        let mut first_version = log(&[b"x"]);
        first_version[..16].copy_from_slice(MAGIC_V1);
        assert_eq!(scan(&first_version), Err(FrameError::OldVersion));
        assert!(FrameError::OldVersion.to_string().contains("version 1"));
    }
}
