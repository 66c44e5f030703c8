//! The compression codecs Spark writes event logs with, chosen by the file's extension as
//! Spark's own reader chooses them: zstd (Spark 4's default; many frames back to back, one per
//! flush), lz4 (lz4-java's `LZ4BlockOutputStream`), snappy (snappy-java's `SnappyOutputStream`)
//! and lzf (compress-lzf's `LZFOutputStream`). Each is a plain `Read` of the decompressed log.

use std::io::{self, Read};
use std::path::Path;

/// How a log file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Plain,
    Zstd,
    Lz4,
    Snappy,
    Lzf,
}

impl std::fmt::Display for Codec {
    /// As in `spark.eventLog.compression.codec`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::Plain => "plain",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
            Codec::Snappy => "snappy",
            Codec::Lzf => "lzf",
        })
    }
}

impl Codec {
    /// From the name, `.inprogress` set aside (`app.zstd.inprogress` is zstd).
    pub fn of(path: &Path) -> Codec {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let name = name.strip_suffix(".inprogress").unwrap_or(&name);
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("zstd" | "zst") => Codec::Zstd,
            Some("lz4") => Codec::Lz4,
            Some("snappy") => Codec::Snappy,
            Some("lzf") => Codec::Lzf,
            _ => Codec::Plain,
        }
    }

    /// The decompressed stream of `inner`.
    pub fn reader<'a, R: Read + 'a>(self, inner: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Codec::Plain => Box::new(inner),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
            Codec::Lz4 => Box::new(Blocks::new(inner, Lz4Block)),
            Codec::Snappy => Box::new(Blocks::new(inner, SnappyBlock)),
            Codec::Lzf => Box::new(Blocks::new(inner, LzfChunk)),
        })
    }
}

/// One block format: reads the next block from `input` and decompresses it into `out`;
/// Ok(false) at a clean end of the stream.
trait BlockFormat {
    fn next_block(&mut self, input: &mut dyn Read, out: &mut Vec<u8>) -> io::Result<bool>;
}

/// A block-framed stream read one decompressed block at a time.
struct Blocks<R, F> {
    input: R,
    format: F,
    block: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read, F: BlockFormat> Blocks<R, F> {
    fn new(input: R, format: F) -> Self {
        Blocks {
            input,
            format,
            block: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl<R: Read, F: BlockFormat> Read for Blocks<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if self.done {
                return Ok(0);
            }
            self.block.clear();
            self.at = 0;
            if !self.format.next_block(&mut self.input, &mut self.block)? {
                self.done = true;
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Fills `buf` completely; Ok(false) when the stream ends before its first byte, an error
/// when it ends inside (a log cut while the application was writing it).
fn fill(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "ends inside a block",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The largest block any of these writers makes is 64 KiB–32 MiB; a length beyond this is a
/// corrupt file, not a reason to allocate.
const MAX_BLOCK: usize = 64 << 20;

fn read_exact_vec(input: &mut dyn Read, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_BLOCK {
        return Err(corrupt(format!("a block of {len} bytes (corrupt length)")));
    }
    let mut data = vec![0; len];
    if !fill(input, &mut data)? && len > 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "ends inside a block",
        ));
    }
    Ok(data)
}

/// lz4-java: `LZ4Block` magic, a token (method | level), compressed and decompressed lengths
/// and a checksum (little-endian), then the data; a block of length 0 ends a stream, and
/// another may follow.
struct Lz4Block;

impl BlockFormat for Lz4Block {
    fn next_block(&mut self, input: &mut dyn Read, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let mut header = [0u8; 21];
            if !fill(input, &mut header)? {
                return Ok(false);
            }
            if &header[..8] != b"LZ4Block" {
                return Err(corrupt("not an lz4-java block (no LZ4Block magic)"));
            }
            let method = header[8] & 0xF0;
            let compressed = u32::from_le_bytes(header[9..13].try_into().unwrap()) as usize;
            let original = u32::from_le_bytes(header[13..17].try_into().unwrap()) as usize;
            if original == 0 {
                continue; // the end mark of one stream; the next may follow
            }
            let data = read_exact_vec(input, compressed)?;
            match method {
                0x10 => out.extend_from_slice(&data),
                0x20 => {
                    if original > MAX_BLOCK {
                        return Err(corrupt("an lz4 block too large (corrupt length)"));
                    }
                    let plain = lz4_flex::block::decompress(&data, original)
                        .map_err(|e| corrupt(format!("lz4: {e}")))?;
                    out.extend_from_slice(&plain);
                }
                other => return Err(corrupt(format!("lz4: unknown block method {other:#x}"))),
            }
            return Ok(true);
        }
    }
}

/// snappy-java: an `\x82SNAPPY\0` header with two versions, then blocks of a big-endian
/// length and raw snappy data; a stream written on after a reopen repeats the header.
struct SnappyBlock;

const SNAPPY_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";

impl BlockFormat for SnappyBlock {
    fn next_block(&mut self, input: &mut dyn Read, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let mut len = [0u8; 4];
            if !fill(input, &mut len)? {
                return Ok(false);
            }
            if len == SNAPPY_MAGIC[..4] {
                // A header: the rest of the magic, then the two versions.
                let mut rest = [0u8; 12];
                if !fill(input, &mut rest)? || rest[..4] != SNAPPY_MAGIC[4..] {
                    return Err(corrupt("not a snappy-java stream (bad header)"));
                }
                continue;
            }
            let len = u32::from_be_bytes(len) as usize;
            let data = read_exact_vec(input, len)?;
            let plain = snap::raw::Decoder::new()
                .decompress_vec(&data)
                .map_err(|e| corrupt(format!("snappy: {e}")))?;
            out.extend_from_slice(&plain);
            return Ok(true);
        }
    }
}

/// compress-lzf: chunks of `ZV`, a type (0 stored, 1 compressed) and big-endian lengths.
struct LzfChunk;

impl BlockFormat for LzfChunk {
    fn next_block(&mut self, input: &mut dyn Read, out: &mut Vec<u8>) -> io::Result<bool> {
        let mut head = [0u8; 5];
        if !fill(input, &mut head)? {
            return Ok(false);
        }
        if &head[..2] != b"ZV" {
            return Err(corrupt("not an LZF chunk (no ZV signature)"));
        }
        let first = u16::from_be_bytes([head[3], head[4]]) as usize;
        match head[2] {
            0 => out.extend_from_slice(&read_exact_vec(input, first)?),
            1 => {
                let mut original = [0u8; 2];
                if !fill(input, &mut original)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "ends inside a block",
                    ));
                }
                let original = u16::from_be_bytes(original) as usize;
                let data = read_exact_vec(input, first)?;
                lzf_decompress(&data, original, out)?;
            }
            other => return Err(corrupt(format!("lzf: unknown chunk type {other}"))),
        }
        Ok(true)
    }
}

/// LZF: a control byte < 32 copies that many + 1 literal bytes; otherwise a back reference
/// of length (ctrl >> 5) + 2 (7 = one more length byte) at distance ((ctrl & 31) << 8 | next) + 1.
fn lzf_decompress(input: &[u8], original: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    let bad = || corrupt("lzf: corrupt chunk");
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = input.get(i..i + run).ok_or_else(bad)?;
            out.extend_from_slice(literal);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or_else(bad)? as usize;
                i += 1;
            }
            let low = *input.get(i).ok_or_else(bad)? as usize;
            i += 1;
            let distance = ((ctrl & 0x1f) << 8 | low) + 1;
            let from = out
                .len()
                .checked_sub(distance)
                .filter(|f| *f >= start)
                .ok_or_else(bad)?;
            for k in 0..len + 2 {
                let byte = out[from + k];
                out.push(byte);
            }
        }
    }
    if out.len() - start != original {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(codec: Codec, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        codec.reader(bytes)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn codec_from_the_name() {
        for (name, codec) in [
            ("local-1.zstd", Codec::Zstd),
            ("app-1.zstd.inprogress", Codec::Zstd),
            ("events_2_local-1.lz4", Codec::Lz4),
            ("local-1.snappy", Codec::Snappy),
            ("local-1.lzf", Codec::Lzf),
            ("local-1", Codec::Plain),
            ("local-1.inprogress", Codec::Plain),
        ] {
            assert_eq!(Codec::of(Path::new(name)), codec, "{name}");
        }
    }

    #[test]
    fn lzf_literals_and_overlapping_references() {
        // "abcabcabcabc": 3 literals, then a reference 9 long at distance 3.
        let mut chunk = b"ZV\x01".to_vec();
        let body = [2u8, b'a', b'b', b'c', 7 << 5, 0, 2];
        chunk.extend_from_slice(&(body.len() as u16).to_be_bytes());
        chunk.extend_from_slice(&12u16.to_be_bytes());
        chunk.extend_from_slice(&body);
        chunk.extend_from_slice(b"ZV\x00\x00\x02\n!");
        assert_eq!(all(Codec::Lzf, &chunk).unwrap(), b"abcabcabcabc\n!");
        let cut = &chunk[..chunk.len() - 1];
        assert!(all(Codec::Lzf, cut).is_err());
    }

    #[test]
    fn lz4_and_snappy_blocks_across_stream_ends() {
        let text = b"{\"Event\":\"SparkListenerLogStart\"}\n".repeat(20);
        let mut lz4 = Vec::new();
        for _ in 0..2 {
            let packed = lz4_flex::block::compress(&text);
            lz4.extend_from_slice(b"LZ4Block\x25");
            lz4.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            lz4.extend_from_slice(&(text.len() as u32).to_le_bytes());
            lz4.extend_from_slice(&[0; 4]);
            lz4.extend_from_slice(&packed);
            lz4.extend_from_slice(b"LZ4Block\x10");
            lz4.extend_from_slice(&[0; 12]);
        }
        assert_eq!(
            all(Codec::Lz4, &lz4).unwrap(),
            [text.clone(), text.clone()].concat()
        );
        let mut snappy = Vec::new();
        for _ in 0..2 {
            snappy.extend_from_slice(SNAPPY_MAGIC);
            snappy.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
            let packed = snap::raw::Encoder::new().compress_vec(&text).unwrap();
            snappy.extend_from_slice(&(packed.len() as u32).to_be_bytes());
            snappy.extend_from_slice(&packed);
        }
        assert_eq!(
            all(Codec::Snappy, &snappy).unwrap(),
            [text.clone(), text].concat()
        );
        assert!(all(Codec::Snappy, &snappy[..snappy.len() - 3]).is_err());
    }
}
