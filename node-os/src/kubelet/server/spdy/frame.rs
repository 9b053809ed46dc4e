//! SPDY/3 framing (draft-mbelshe-httpbis-spdy-00, the version kubectl's spdystream speaks):
//! frames to and from bytes, without IO. Control frames start with the high bit set, the
//! version (3) and a type; data frames with a stream id. Header blocks (SYN_STREAM, SYN_REPLY,
//! HEADERS) are one zlib stream per direction and connection, each block ending in a sync
//! flush, compressed with the SPDY dictionary: so the [`Encoder`] and [`Decoder`] keep state
//! across frames and must see every frame of their direction, in order.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::dictionary::DICTIONARY;

pub const VERSION: u16 = 3;

pub const TYPE_SYN_STREAM: u16 = 1;
pub const TYPE_SYN_REPLY: u16 = 2;
pub const TYPE_RST_STREAM: u16 = 3;
pub const TYPE_SETTINGS: u16 = 4;
pub const TYPE_PING: u16 = 6;
pub const TYPE_GOAWAY: u16 = 7;
pub const TYPE_HEADERS: u16 = 8;
pub const TYPE_WINDOW_UPDATE: u16 = 9;

const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes used here.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;
pub const RST_CANCEL: u32 = 5;
pub const RST_FLOW_CONTROL_ERROR: u32 = 7;

/// The SETTINGS id of the initial per-stream send window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;
/// The window every stream (and, in 3.1, the session) starts with.
pub const DEFAULT_WINDOW: u32 = 64 * 1024;

/// Header names and values as sent: names lowercase; a name with several values appears once
/// per value here and is joined with NUL on the wire.
pub type Headers = Vec<(String, String)>;

/// The first value of header `name`.
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The largest control frame accepted (headers of a few streams, not a body).
const MAX_CONTROL_FRAME: usize = 1 << 20;
/// The largest header block accepted once inflated.
const MAX_HEADER_BLOCK: usize = 1 << 20;
/// Data frames may carry up to 2^24 - 1 bytes.
pub const MAX_DATA_FRAME: usize = (1 << 24) - 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        fin: bool,
        data: Bytes,
    },
    /// A control frame of a type not listed above: skipped, as the spec asks of receivers.
    Unknown {
        frame_type: u16,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("SPDY version {0} is not supported")]
    Version(u16),
    #[error("a {0} byte frame is too large")]
    TooLarge(usize),
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    #[error("header block: {0}")]
    HeaderBlock(String),
}

/// Lays out a header block before compression: a 32-bit count, then each name and value as a
/// 32-bit length and the bytes.
pub fn encode_header_block(headers: &Headers) -> Vec<u8> {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    let mut out = Vec::new();
    out.put_u32(grouped.len() as u32);
    for (name, values) in grouped {
        let value = values.join("\0");
        out.put_u32(name.len() as u32);
        out.extend_from_slice(name.as_bytes());
        out.put_u32(value.len() as u32);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Reads an inflated header block.
pub fn decode_header_block(mut block: &[u8]) -> Result<Headers, FrameError> {
    let bad = |m: &str| FrameError::HeaderBlock(m.to_string());
    let take = |block: &mut &[u8]| -> Result<Vec<u8>, FrameError> {
        if block.len() < 4 {
            return Err(bad("truncated length"));
        }
        let len = block.get_u32() as usize;
        if block.len() < len {
            return Err(bad("truncated string"));
        }
        let s = block[..len].to_vec();
        block.advance(len);
        Ok(s)
    };
    if block.len() < 4 {
        return Err(bad("missing count"));
    }
    let count = block.get_u32();
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = String::from_utf8(take(&mut block)?).map_err(|_| bad("name is not UTF-8"))?;
        let value = take(&mut block)?;
        let value = String::from_utf8_lossy(&value);
        for v in value.split('\0') {
            headers.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    Ok(headers)
}

/// Writes frames; owns the sending direction's header compressor.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(DICTIONARY)
            .expect("a fresh deflate stream takes a dictionary");
        Encoder { deflate }
    }

    fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| FrameError::HeaderBlock(e.to_string()))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            // zlib stops a flush only when the output is full: room left means it is done.
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }

    /// Appends `frame`'s bytes to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), FrameError> {
        let control = |out: &mut BytesMut, frame_type: u16, flags: u8, body: &[u8]| {
            out.put_u16(0x8000 | VERSION);
            out.put_u16(frame_type);
            out.put_u32((u32::from(flags) << 24) | body.len() as u32);
            out.extend_from_slice(body);
        };
        let fin = |f: bool| if f { FLAG_FIN } else { 0 };
        match frame {
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                fin: f,
                unidirectional,
                headers,
            } => {
                let block = self.compress(&encode_header_block(headers))?;
                let mut body = Vec::with_capacity(10 + block.len());
                body.put_u32(stream_id & 0x7fff_ffff);
                body.put_u32(associated_to & 0x7fff_ffff);
                body.put_u8((priority & 0x7) << 5);
                body.put_u8(0);
                body.extend_from_slice(&block);
                let flags = fin(*f)
                    | if *unidirectional {
                        FLAG_UNIDIRECTIONAL
                    } else {
                        0
                    };
                control(out, TYPE_SYN_STREAM, flags, &body);
            }
            Frame::SynReply {
                stream_id,
                fin: f,
                headers,
            }
            | Frame::Headers {
                stream_id,
                fin: f,
                headers,
            } => {
                let block = self.compress(&encode_header_block(headers))?;
                let mut body = Vec::with_capacity(4 + block.len());
                body.put_u32(stream_id & 0x7fff_ffff);
                body.extend_from_slice(&block);
                let t = if matches!(frame, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                control(out, t, fin(*f), &body);
            }
            Frame::RstStream { stream_id, status } => {
                let mut body = Vec::with_capacity(8);
                body.put_u32(stream_id & 0x7fff_ffff);
                body.put_u32(*status);
                control(out, TYPE_RST_STREAM, 0, &body);
            }
            Frame::Settings { entries } => {
                let mut body = Vec::with_capacity(4 + 8 * entries.len());
                body.put_u32(entries.len() as u32);
                for s in entries {
                    body.put_u32((u32::from(s.flags) << 24) | (s.id & 0x00ff_ffff));
                    body.put_u32(s.value);
                }
                control(out, TYPE_SETTINGS, 0, &body);
            }
            Frame::Ping { id } => control(out, TYPE_PING, 0, &id.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut body = Vec::with_capacity(8);
                body.put_u32(last_good_stream_id & 0x7fff_ffff);
                body.put_u32(*status);
                control(out, TYPE_GOAWAY, 0, &body);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut body = Vec::with_capacity(8);
                body.put_u32(stream_id & 0x7fff_ffff);
                body.put_u32(delta & 0x7fff_ffff);
                control(out, TYPE_WINDOW_UPDATE, 0, &body);
            }
            Frame::Data {
                stream_id,
                fin: f,
                data,
            } => {
                if data.len() > MAX_DATA_FRAME {
                    return Err(FrameError::TooLarge(data.len()));
                }
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32((u32::from(fin(*f)) << 24) | data.len() as u32);
                out.extend_from_slice(data);
            }
            Frame::Unknown { .. } => return Err(FrameError::Malformed("unknown")),
        }
        Ok(())
    }
}

/// Reads frames; owns the receiving direction's header decompressor.
pub struct Decoder {
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            inflate: Decompress::new(true),
        }
    }

    fn inflate(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let err = |e: flate2::DecompressError| FrameError::HeaderBlock(e.to_string());
        let mut out = Vec::with_capacity(block.len() * 4 + 256);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let (in_before, out_before) = (self.inflate.total_in(), out.len());
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let consumed = (self.inflate.total_in() - in_before) as usize;
            input = &input[consumed..];
            match result {
                Ok(_) => {}
                // The stream's header names the SPDY dictionary: supply it and go on.
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(DICTIONARY).map_err(err)?;
                    continue;
                }
                Err(e) => return Err(err(e)),
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(FrameError::TooLarge(out.len()));
            }
            // All input taken and the output not cut short: the block is complete.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            if consumed == 0 && out.len() == out_before {
                return Err(FrameError::HeaderBlock(
                    "the compressed block makes no progress".into(),
                ));
            }
        }
        decode_header_block(&out)
    }

    /// Takes one whole frame off the front of `buf`, or `None` if it has not all arrived.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let len = (u32::from_be_bytes([0, buf[5], buf[6], buf[7]])) as usize;
        let is_control = word & 0x8000_0000 != 0;
        if is_control && len > MAX_CONTROL_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if buf.len() < 8 + len {
            buf.reserve(8 + len - buf.len());
            return Ok(None);
        }
        buf.advance(8);
        let mut body = buf.split_to(len).freeze();
        if !is_control {
            return Ok(Some(Frame::Data {
                stream_id: word & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: body,
            }));
        }
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        let frame_type = (word & 0xffff) as u16;
        let fin = flags & FLAG_FIN != 0;
        let need = |body: &Bytes, n: usize, what| {
            if body.len() < n {
                Err(FrameError::Malformed(what))
            } else {
                Ok(())
            }
        };
        let frame = match frame_type {
            TYPE_SYN_STREAM => {
                need(&body, 10, "SYN_STREAM")?;
                let stream_id = body.get_u32() & 0x7fff_ffff;
                let associated_to = body.get_u32() & 0x7fff_ffff;
                let priority = body.get_u8() >> 5;
                body.advance(1);
                let headers = self.inflate(&body)?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&body, 4, "SYN_REPLY")?;
                let stream_id = body.get_u32() & 0x7fff_ffff;
                let headers = self.inflate(&body)?;
                if frame_type == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&body, 8, "RST_STREAM")?;
                Frame::RstStream {
                    stream_id: body.get_u32() & 0x7fff_ffff,
                    status: body.get_u32(),
                }
            }
            TYPE_SETTINGS => {
                need(&body, 4, "SETTINGS")?;
                let n = body.get_u32() as usize;
                need(&body, n.saturating_mul(8), "SETTINGS")?;
                let entries = (0..n)
                    .map(|_| {
                        let word = body.get_u32();
                        Setting {
                            flags: (word >> 24) as u8,
                            id: word & 0x00ff_ffff,
                            value: body.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings { entries }
            }
            TYPE_PING => {
                need(&body, 4, "PING")?;
                Frame::Ping { id: body.get_u32() }
            }
            TYPE_GOAWAY => {
                need(&body, 4, "GOAWAY")?;
                let last_good_stream_id = body.get_u32() & 0x7fff_ffff;
                // SPDY/2 had no status; accept its absence.
                let status = if body.len() >= 4 { body.get_u32() } else { 0 };
                Frame::GoAway {
                    last_good_stream_id,
                    status,
                }
            }
            TYPE_WINDOW_UPDATE => {
                need(&body, 8, "WINDOW_UPDATE")?;
                Frame::WindowUpdate {
                    stream_id: body.get_u32() & 0x7fff_ffff,
                    delta: body.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown { frame_type: other },
        };
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let mut wire = BytesMut::new();
        for f in frames {
            enc.encode(f, &mut wire).unwrap();
        }
        let mut out = Vec::new();
        // Fed a byte at a time, as a slow network (or a WebSocket tunnel) might.
        let mut buf = BytesMut::new();
        for b in wire.iter() {
            buf.put_u8(*b);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn every_frame_type_survives_a_round_trip() {
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: h(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: vec![],
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 0,
                priority: 7,
                fin: true,
                unidirectional: false,
                headers: h(&[("streamtype", "data"), ("x-multi", "a"), ("x-multi", "b")]),
            },
            Frame::Headers {
                stream_id: 3,
                fin: true,
                headers: h(&[("k", "v")]),
            },
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL,
            },
            Frame::Settings {
                entries: vec![Setting {
                    flags: 0,
                    id: SETTINGS_INITIAL_WINDOW_SIZE,
                    value: 1 << 20,
                }],
            },
            Frame::Ping { id: 7 },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 4096,
            },
            Frame::GoAway {
                last_good_stream_id: 3,
                status: 0,
            },
        ];
        assert_eq!(round_trip(&frames), frames);
    }

    /// A SYN_STREAM as Go's spdystream writes it: the header block compressed by a zlib
    /// stream primed with the dictionary (so its header carries FDICT and the dictionary's
    /// Adler-32), flushed with a sync flush; then a second block on the same stream.
    #[test]
    fn header_blocks_compressed_with_the_dictionary_decode() {
        let mut z = Compress::new(Compression::best(), true);
        z.set_dictionary(DICTIONARY).unwrap();
        let mut wire = BytesMut::new();
        for (id, kind) in [(1u32, "error"), (3, "stdout")] {
            let block = encode_header_block(&h(&[("streamtype", kind)]));
            let mut compressed = Vec::with_capacity(256);
            z.compress_vec(&block, &mut compressed, FlushCompress::Sync)
                .unwrap();
            if id == 1 {
                // CMF/FLG with FDICT set, then the DICTID.
                assert_eq!(compressed[1] & 0x20, 0x20);
                assert_eq!(&compressed[2..6], &0xe3c6_a7c2u32.to_be_bytes());
            }
            wire.put_u16(0x8003);
            wire.put_u16(TYPE_SYN_STREAM);
            wire.put_u32(10 + compressed.len() as u32);
            wire.put_u32(id);
            wire.put_u32(0);
            wire.put_u16(0);
            wire.extend_from_slice(&compressed);
        }
        let mut dec = Decoder::new();
        let mut kinds = Vec::new();
        while let Some(Frame::SynStream { headers, .. }) = dec.decode(&mut wire).unwrap() {
            kinds.push(header(&headers, "streamtype").unwrap().to_string());
        }
        assert_eq!(kinds, vec!["error", "stdout"]);
    }

    /// What we send must inflate with a plain zlib reader given the dictionary, as Go's
    /// `zlib.NewReaderDict` does; the FDICT bit tells it the dictionary is in use.
    #[test]
    fn our_header_blocks_inflate_with_the_dictionary() {
        let mut enc = Encoder::new();
        let mut wire = BytesMut::new();
        enc.encode(
            &Frame::SynReply {
                stream_id: 5,
                fin: false,
                headers: h(&[("a", "b")]),
            },
            &mut wire,
        )
        .unwrap();
        let block = &wire[12..];
        assert_eq!(block[1] & 0x20, 0x20, "FDICT set");
        let mut z = Decompress::new(true);
        let mut out = Vec::with_capacity(1024);
        let err = z
            .decompress_vec(block, &mut out, FlushDecompress::Sync)
            .unwrap_err();
        assert_eq!(err.needs_dictionary(), Some(0xe3c6_a7c2));
        z.set_dictionary(DICTIONARY).unwrap();
        let consumed = z.total_in() as usize;
        z.decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(decode_header_block(&out).unwrap(), h(&[("a", "b")]));
    }

    #[test]
    fn wrong_versions_and_oversized_frames_are_errors() {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&[0x80, 0x02, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::Version(2))));
        let mut buf = BytesMut::from(&[0x80, 0x03, 0, 1, 0, 0x20, 0, 0][..]);
        assert!(matches!(dec.decode(&mut buf), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        let mut dec = Decoder::new();
        let mut buf = BytesMut::from(&[0x80, 0x03, 0, 10, 0, 0, 0, 2, 9, 9][..]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Frame::Unknown { frame_type: 10 })
        );
        assert!(buf.is_empty());
    }
}
